import { createHash } from 'node:crypto';

/**
 * Express' default ETag for a body sent with res.send/res.json: weak,
 * `W/"<byte length in hex>-<first 27 chars of base64 sha1>"`.
 */
export function weakEtag(body: Buffer | string): string {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  if (buf.length === 0) return 'W/"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"';
  const hash = createHash('sha1').update(buf).digest('base64').substring(0, 27);
  return `W/"${buf.length.toString(16)}-${hash}"`;
}

function parseTokenList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.trim();
    if (t) out.push(t);
  }
  return out;
}

/**
 * The `fresh` check express runs before sending (conditional GET), as the `fresh` module does it:
 * If-None-Match must list the ETag (weak comparison), `Cache-Control: no-cache` in the request
 * defeats it, and an If-Modified-Since makes it stale because these responses carry no Last-Modified.
 */
export function isFresh(reqHeaders: { [k: string]: string | string[] | undefined }, etag: string): boolean {
  const noneMatch = reqHeaders['if-none-match'];
  const modifiedSince = reqHeaders['if-modified-since'];
  if (!modifiedSince && !noneMatch) return false;
  const cacheControl = reqHeaders['cache-control'];
  if (typeof cacheControl === 'string' && /(?:^|,)\s*?no-cache\s*?(?:,|$)/.test(cacheControl)) return false;
  if (typeof noneMatch === 'string' && noneMatch !== '*') {
    const matched = parseTokenList(noneMatch).some((m) => m === etag || m === `W/${etag}` || `W/${m}` === etag);
    if (!matched) return false;
  }
  if (modifiedSince) return false;
  return true;
}
