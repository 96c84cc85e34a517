import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib';

/**
 * The legacy's `compression` middleware (1.8.x) for bodies of at least 1 KiB: the client's
 * Accept-Encoding decides, ties go to the server's preference br > gzip > deflate; brotli at
 * quality 4, gzip/deflate at zlib defaults. Returns null when no encoding is acceptable.
 */
export function negotiateEncoding(acceptEncoding: string | string[] | undefined): 'br' | 'gzip' | 'deflate' | null {
  if (acceptEncoding === undefined) return null;
  const header = Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding;
  const q: Record<string, number> = {};
  let star: number | undefined;
  for (const raw of header.split(',')) {
    const [codingPart, ...params] = raw.trim().split(';');
    const coding = codingPart!.trim().toLowerCase();
    if (!coding) continue;
    let quality = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) quality = Number.parseFloat(m[1]!);
    }
    if (coding === '*') star = quality;
    else if (q[coding] === undefined || quality > q[coding]!) q[coding] = quality;
  }
  let best: 'br' | 'gzip' | 'deflate' | null = null;
  let bestQ = 0;
  for (const coding of ['br', 'gzip', 'deflate'] as const) {
    const value = q[coding] ?? star ?? 0;
    if (value > bestQ) {
      best = coding;
      bestQ = value;
    }
  }
  return best;
}

export function maybeCompress(
  acceptEncoding: string | string[] | undefined,
  body: Buffer,
): { encoding: 'br' | 'gzip' | 'deflate'; body: Buffer } | null {
  const encoding = negotiateEncoding(acceptEncoding);
  if (!encoding) return null;
  if (encoding === 'br') {
    return { encoding, body: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }) };
  }
  if (encoding === 'gzip') return { encoding, body: gzipSync(body) };
  return { encoding, body: deflateSync(body) };
}
