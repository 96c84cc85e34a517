import type { IncomingHttpHeaders } from 'node:http';

/**
 * The legacy's key extraction (src/middleware/auth.js extractApiKey): candidates in priority
 * order x-api-key, x-goog-api-key, authorization, api-key, query `key`; arrays give their first
 * non-blank string; values are trimmed; a leading `Bearer` + whitespace is removed from ANY
 * candidate (case-insensitive); an empty result moves on to the next candidate.
 */
export function extractApiKey(headers: IncomingHttpHeaders, queryKey: unknown): string {
  const candidates: unknown[] = [headers['x-api-key'], headers['x-goog-api-key'], headers.authorization, headers['api-key'], queryKey];
  for (const candidate of candidates) {
    let value = candidate;
    if (Array.isArray(value)) value = value.find((item) => typeof item === 'string' && item.trim());
    if (typeof value !== 'string') continue;
    let trimmed = value.trim();
    if (!trimmed) continue;
    if (/^Bearer\s+/i.test(trimmed)) {
      trimmed = trimmed.replace(/^Bearer\s+/i, '').trim();
      if (!trimmed) continue;
    }
    return trimmed;
  }
  return '';
}

/**
 * `req.query.key` as express' extended (qs) parser gives it: a string for `?key=v`, an array
 * for repeated keys, an object for `key[a]=v`. Only the string / array cases can yield a key.
 */
export function queryKeyOf(url: string | undefined): unknown {
  if (!url) return undefined;
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const params = new URLSearchParams(url.substring(q + 1));
  const values = params.getAll('key');
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0] : values;
}
