import type { ServerResponse } from 'node:http';
import type { CapturedResponse } from './shadow-sink.js';

/**
 * Watches what a ServerResponse sends, whoever writes it (the legacy bridge or a migrated module):
 * time to head, body bytes and, when asked, a capture of the wire head and the body chunks for the
 * shadow tee. It wraps writeHead/write/end on this one response object; the bytes are not changed.
 */

export interface ResponseProbe {
  readonly startedAt: number;
  /** performance.now() when the head was written, or 0. */
  headAt: number;
  bytes: number;
  /** Present when capturing: resolves when the response finishes or closes. */
  captured?: Promise<CapturedResponse>;
}

type Chunk = string | Buffer | Uint8Array;

const toBuffer = (chunk: Chunk, encoding?: BufferEncoding): Buffer =>
  typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);

/** Parse Node's serialized response head ("HTTP/1.1 200 OK\r\nName: value\r\n...") into status + raw headers. */
export function parseResponseHead(head: string): { status: number; rawHeaders: string[] } {
  const lines = head.split('\r\n');
  const status = Number(lines[0]?.split(' ')[1] ?? 0);
  const rawHeaders: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { status, rawHeaders };
}

export function probeResponse(res: ServerResponse, startedAt: number, capture?: { maxBytes: number }): ResponseProbe {
  const probe: ResponseProbe = { startedAt, headAt: 0, bytes: 0 };
  const origWriteHead = res.writeHead;
  const origWrite = res.write;
  const origEnd = res.end;

  let chunks: Array<{ atMs: number; data: Buffer }> | undefined;
  let kept = 0;
  let truncated = false;
  const keep = (data: Buffer) => {
    if (!chunks || data.length === 0) return;
    const room = capture!.maxBytes - kept;
    if (room <= 0) {
      truncated = true;
      return;
    }
    const part = data.length > room ? data.subarray(0, room) : data;
    if (part.length < data.length) truncated = true;
    chunks.push({ atMs: performance.now() - (probe.headAt || startedAt), data: Buffer.from(part) });
    kept += part.length;
  };

  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const out = (origWriteHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    if (!probe.headAt) probe.headAt = performance.now();
    return out;
  } as typeof res.writeHead;

  res.write = function (this: ServerResponse, chunk: Chunk, ...rest: unknown[]) {
    if (chunk != null) {
      const enc = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
      const n = typeof chunk === 'string' ? Buffer.byteLength(chunk, enc) : chunk.length;
      probe.bytes += n;
      if (chunks) keep(toBuffer(chunk, enc));
    }
    return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof res.write;

  res.end = function (this: ServerResponse, ...args: unknown[]) {
    const chunk = args[0];
    if (chunk != null && typeof chunk !== 'function') {
      const enc = typeof args[1] === 'string' ? (args[1] as BufferEncoding) : undefined;
      const c = chunk as Chunk;
      probe.bytes += typeof c === 'string' ? Buffer.byteLength(c, enc) : c.length;
      if (chunks) keep(toBuffer(c, enc));
    }
    return (origEnd as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as typeof res.end;

  if (capture) {
    chunks = [];
    probe.captured = new Promise<CapturedResponse>((resolve) => {
      let done = false;
      const finish = (error?: string) => {
        if (done) return;
        done = true;
        const head = (res as unknown as { _header?: string | null })._header;
        const parsed = head ? parseResponseHead(head) : { status: 0, rawHeaders: [] };
        const end = performance.now();
        resolve({
          status: parsed.status,
          rawHeaders: parsed.rawHeaders,
          body: Buffer.concat(chunks!.map((c) => c.data)),
          chunks: chunks!,
          truncated,
          ttfbMs: probe.headAt ? probe.headAt - startedAt : end - startedAt,
          durationMs: end - startedAt,
          ...(error ? { error } : {}),
        });
      };
      res.once('finish', () => finish());
      res.once('close', () => finish(res.writableFinished ? undefined : 'response closed before it ended'));
    });
  }
  return probe;
}
