import type { IncomingHttpHeaders } from 'node:http';

/** The UA the legacy substitutes for browser / Chrome-extension requests carrying a `cr_` key. */
export const BROWSER_FALLBACK_UA = 'claude-cli/1.0.110 (external, cli, browser-fallback)';

function headerKey(value: unknown): string {
  let candidate = value;
  if (Array.isArray(candidate)) candidate = candidate.find((item) => typeof item === 'string' && item.trim());
  if (typeof candidate !== 'string') return '';
  let trimmed = candidate.trim();
  if (!trimmed) return '';
  if (/^Bearer\s+/i.test(trimmed)) trimmed = trimmed.replace(/^Bearer\s+/i, '').trim();
  return trimmed;
}

/**
 * src/middleware/browserFallback.js, run on every request before routing: when the request
 * comes from a Chrome extension (Origin `chrome-extension://…`) or a Chrome browser (UA has
 * `Mozilla/` and `Chrome/`) and carries a key starting with the literal `cr_`, the request
 * headers are rewritten so it passes as Claude Code. Mutates `headers`; returns whether it fired
 * (the legacy's `req.isBrowserFallback`). Idempotent.
 */
export function applyBrowserFallback(headers: IncomingHttpHeaders): boolean {
  const userAgent = typeof headers['user-agent'] === 'string' ? headers['user-agent'] : '';
  const origin = typeof headers.origin === 'string' ? headers.origin : '';
  const apiKeyHeader = headerKey(headers['x-api-key']) || headerKey(headers['x-goog-api-key']);
  const normalizedKey = headerKey(headers.authorization) || apiKeyHeader;
  const isChromeExtension = origin.startsWith('chrome-extension://');
  const isBrowser = userAgent.includes('Mozilla/') && userAgent.includes('Chrome/');
  if (!((isChromeExtension || isBrowser) && normalizedKey.startsWith('cr_'))) return false;
  headers['user-agent'] = BROWSER_FALLBACK_UA;
  if (!headers.authorization && apiKeyHeader) headers.authorization = `Bearer ${apiKeyHeader}`;
  if (!headers['anthropic-version']) headers['anthropic-version'] = '2023-06-01';
  if (!headers['anthropic-dangerous-direct-browser-access']) headers['anthropic-dangerous-direct-browser-access'] = 'true';
  return true;
}
