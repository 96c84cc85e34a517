/**
 * The CCR stream's line handling (ccrRelayService._makeCcrStreamRequest): upstream bytes are
 * split on `\n`; a line with non-whitespace content is written with `\n`, a blank one as `\n`
 * alone; an unterminated last line is never written. Lines are cut on bytes, so a multi-byte
 * character split across chunks is never corrupted (the legacy decoded per chunk).
 * Usage: every `data: ` line whose JSON has `usage` (or a message_delta with `delta.usage`)
 * replaces the collected counters.
 */
export interface CcrCollectedUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_input_tokens_ephemeral_5m: number;
  cache_creation_input_tokens_ephemeral_1h: number;
}

const NL = 0x0a;

function counts(u: Record<string, unknown>): CcrCollectedUsage {
  const n = (k: string) => (u[k] as number) || 0;
  return {
    input_tokens: n('input_tokens'),
    output_tokens: n('output_tokens'),
    cache_creation_input_tokens: n('cache_creation_input_tokens'),
    cache_read_input_tokens: n('cache_read_input_tokens'),
    cache_creation_input_tokens_ephemeral_5m: n('cache_creation_input_tokens_ephemeral_5m'),
    cache_creation_input_tokens_ephemeral_1h: n('cache_creation_input_tokens_ephemeral_1h'),
  };
}

export function usageOfLine(line: string): CcrCollectedUsage | null {
  if (!line.startsWith('data: ')) return null;
  const data = line.slice(6).trim();
  if (data === '[DONE]') return null;
  try {
    const json = JSON.parse(data) as Record<string, unknown> | null;
    if (!json || typeof json !== 'object') return null;
    if (json['usage']) return counts(json['usage'] as Record<string, unknown>);
    const delta = json['delta'] as Record<string, unknown> | undefined;
    if (json['type'] === 'message_delta' && delta && delta['usage']) return counts(delta['usage'] as Record<string, unknown>);
  } catch {
    // not every line is JSON
  }
  return null;
}

export class CcrLineFramer {
  private pending: Buffer = Buffer.alloc(0);
  usage: CcrCollectedUsage | null = null;

  /** Bytes to write for this chunk (possibly empty). */
  push(chunk: Buffer): Buffer {
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    let start = 0;
    for (let i = buf.indexOf(NL); i !== -1; i = buf.indexOf(NL, start)) {
      const lineBytes = buf.subarray(start, i);
      const line = lineBytes.toString('utf8');
      if (line.trim()) {
        const u = usageOfLine(line);
        if (u) this.usage = u;
        out.push(buf.subarray(start, i + 1));
      } else out.push(Buffer.from('\n'));
      start = i + 1;
    }
    this.pending = Buffer.from(buf.subarray(start));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}
