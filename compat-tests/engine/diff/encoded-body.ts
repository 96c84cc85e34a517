import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { tallyIgnored, type Difference } from '../report/model.js';
import type { DiffContext } from './context.js';
import { compareBytes } from './text.js';

/**
 * Response bodies sent with a Content-Encoding. When both sides used the same single encoding
 * (gzip, deflate, br), both bodies are decoded and the decoded bytes are compared with the usual
 * JSON / SSE views and noise rules, at `response.body(decoded <encoding>)`; the Content-Encoding
 * header itself is still compared with the other headers. Anything else (different encodings, an
 * encoding not handled here, a body that does not decode) is compared as raw bytes, and the
 * difference says why.
 */
export type BodyView =
  | { kind: 'raw'; reason?: string }
  | { kind: 'decoded'; encoding: string; expected: Buffer; actual: Buffer };

const DECODERS: Record<string, (b: Buffer) => Buffer> = {
  gzip: (b) => gunzipSync(b),
  'x-gzip': (b) => gunzipSync(b),
  br: (b) => brotliDecompressSync(b),
  // HTTP deflate is the zlib format; some servers send a bare deflate stream
  deflate: (b) => {
    try {
      return inflateSync(b);
    } catch {
      return inflateRawSync(b);
    }
  },
};

/** The Content-Encoding of a raw header list, lower-cased; '' when absent or `identity`. */
export function contentEncoding(rawHeaders: readonly string[]): string {
  const parts: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'content-encoding') parts.push(rawHeaders[i + 1]!);
  }
  const codings = parts
    .join(',')
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter((x) => x && x !== 'identity');
  return codings.join(', ');
}

export function bodyView(eHeaders: readonly string[], aHeaders: readonly string[], expected: Buffer, actual: Buffer): BodyView {
  const ee = contentEncoding(eHeaders);
  const ae = contentEncoding(aHeaders);
  if (!ee && !ae) return { kind: 'raw' };
  const show = (x: string) => x || 'none';
  if (ee !== ae) {
    return { kind: 'raw', reason: `Content-Encoding differs (recorded ${show(ee)}, observed ${show(ae)}): bodies compared as raw bytes` };
  }
  const decode = DECODERS[ee];
  if (!decode) return { kind: 'raw', reason: `Content-Encoding ${ee} is not decoded by the diff: bodies compared as raw bytes` };
  const run = (side: string, b: Buffer): Buffer | string => {
    try {
      return decode(b);
    } catch (err) {
      return `the ${side} ${ee} body does not decode (${(err as Error).message}): bodies compared as raw bytes`;
    }
  };
  const de = run('recorded', expected);
  if (typeof de === 'string') return { kind: 'raw', reason: de };
  const da = run('observed', actual);
  if (typeof da === 'string') return { kind: 'raw', reason: da };
  return { kind: 'decoded', encoding: ee, expected: de, actual: da };
}

/**
 * Compare the response bodies under `view`. Decoded bodies that agree (modulo noise) while the
 * compressed bytes differ: the compressed bytes are counted as ignored (`encoding:<name>`).
 */
export function compareResponseBody(ctx: DiffContext, view: BodyView, expected: Buffer, actual: Buffer): Difference[] {
  if (expected.equals(actual)) return [];
  if (view.kind === 'raw') {
    const diffs = compareBytes(ctx, 'response.body', expected, actual);
    if (view.reason) for (const d of diffs) d.detail = [view.reason, ...(d.detail ?? [])];
    return diffs;
  }
  const path = `response.body(decoded ${view.encoding})`;
  const diffs = compareBytes(ctx, path, view.expected, view.actual);
  if (diffs.length === 0) {
    // the decoded bodies agree: the compressed bytes differ only because the noise inside them does
    tallyIgnored(ctx.tally, `encoding:${view.encoding}`, expected.length);
    return [];
  }
  const note = `${view.encoding} bodies compared after decoding: offsets and context are in the decoded bytes`;
  for (const d of diffs) d.detail = [note, ...(d.detail ?? [])];
  return diffs;
}
