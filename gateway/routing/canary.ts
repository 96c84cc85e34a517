import type { IncomingMessage } from 'node:http';

/**
 * Canary stickiness: a request's bucket (0..9999) is a hash of its API key (the headers the legacy reads a
 * key from), or of the client IP when it carries none. A route at `percent` sends buckets below
 * percent*100 to migrated, so one key stays on one side, and raising the percent only moves keys forward.
 */

export function stickyKey(req: IncomingMessage, clientIp: string): string {
  const h = req.headers;
  const auth = h['authorization'];
  const candidates = [h['x-api-key'], h['x-goog-api-key'], h['api-key'], typeof auth === 'string' ? auth.replace(/^Bearer\s+/i, '') : undefined];
  for (const c of candidates) if (typeof c === 'string' && c.trim() !== '') return `key:${c.trim()}`;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q !== -1) {
    const key = new URLSearchParams(url.slice(q + 1)).get('key');
    if (key) return `key:${key}`;
  }
  return `ip:${clientIp}`;
}

/** FNV-1a 32-bit, reduced to 0..9999. */
export function bucketOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 10000;
}

export function canarySide(key: string, percent: number): 'migrated' | 'legacy' {
  return bucketOf(key) < Math.round(percent * 100) ? 'migrated' : 'legacy';
}
