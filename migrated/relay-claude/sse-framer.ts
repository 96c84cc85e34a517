/**
 * Re-chunks an upstream SSE byte stream on line ends, the way the legacy writes it to the client
 * (relay-claude.md §4.6 step 2): every upstream chunk releases all bytes up to and including its
 * last `\n`; the partial tail waits for the next chunk; at the end the tail is released only if
 * it has non-whitespace content.
 *
 * Works on bytes, never on per-chunk decoded strings: `\n` cannot occur inside a UTF-8
 * multi-byte sequence, so a character split across upstream chunks is always re-joined intact.
 * (Accepted deviation: the legacy decodes each chunk separately and emits U+FFFD there.)
 */
export class SseLineFramer {
  private tail: Buffer = Buffer.alloc(0);

  /** Bytes to write now (complete lines) — possibly empty — and the complete lines for parsing. */
  push(chunk: Buffer): { out: Buffer | null; lines: string[] } {
    const nl = chunk.lastIndexOf(0x0a);
    if (nl < 0) {
      this.tail = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
      return { out: null, lines: [] };
    }
    const head = chunk.subarray(0, nl + 1);
    const out = this.tail.length ? Buffer.concat([this.tail, head]) : head;
    this.tail = nl + 1 < chunk.length ? Buffer.from(chunk.subarray(nl + 1)) : Buffer.alloc(0);
    return { out, lines: splitLines(out) };
  }

  /** Remaining bytes to write at upstream end (null when empty or whitespace only), and its line. */
  end(): { out: Buffer | null; lines: string[] } {
    const rest = this.tail;
    this.tail = Buffer.alloc(0);
    const text = rest.toString('utf8');
    if (!text.trim()) return { out: null, lines: [] };
    return { out: rest, lines: [text] };
  }
}

function splitLines(bytes: Buffer): string[] {
  const text = bytes.toString('utf8');
  const lines = text.split('\n');
  lines.pop(); // trailing empty piece after the final \n
  return lines;
}

/** JSON payload of a `data:` line, or undefined for other lines, `[DONE]` or unparsable data. */
export function parseDataLine(line: string): unknown {
  if (!line.startsWith('data:')) return undefined;
  const json = line.slice(5).trimStart();
  if (!json || json === '[DONE]') return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}
