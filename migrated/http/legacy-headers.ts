import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { HeaderList } from './header-list.js';
import type { HttpSurfaceOptions } from './legacy-surface.js';

/**
 * The headers the legacy's middleware chain puts on a response before the handler writes its own,
 * in wire order: helmet → CORS → request logger (X-Request-ID) → securityMiddleware (overrides in place,
 * adds COOP / Origin-Agent-Cluster / CSP / cache headers). Facts: responses-and-errors.md §1–§3.
 */

/**
 * How far the legacy's pipeline got before the response was written.
 * - `routed`: a route handler, the 404 handler or an auth rejection (security middleware ran);
 * - `after-logger`: body-parser errors reaching the global error handler (X-Request-ID, helmet values);
 * - `before-logger`: the Content-Length pre-check 413 (helmet + CORS only).
 */
export type PipelineStage = 'routed' | 'after-logger' | 'before-logger';

export interface RequestFacts {
  method: string;
  /** Path without query string, as the client sent it (req.path at app level). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The TLS socket was encrypted (the gateway terminated TLS itself). */
  encrypted?: boolean;
}

export const CSP_VALUE =
  "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https://unpkg.com https://cdn.tailwindcss.com https://cdnjs.cloudflare.com https://cdn.jsdelivr.net https://cdn.bootcdn.net; style-src 'self' 'unsafe-inline' https://cdn.tailwindcss.com https://cdnjs.cloudflare.com https://cdn.bootcdn.net; font-src 'self' https://cdnjs.cloudflare.com https://cdn.bootcdn.net; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const HELMET: ReadonlyArray<readonly [string, string]> = [
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=15552000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

const CUSTOM_CORS_ORIGINS = new Set([
  'http://localhost:3000',
  'https://localhost:3000',
  'http://127.0.0.1:3000',
  'https://127.0.0.1:3000',
]);

const CUSTOM_CORS_ALLOW_HEADERS =
  'Origin, X-Requested-With, Content-Type, Accept, Authorization, x-api-key, x-goog-api-key, api-key, x-admin-token, anthropic-version, anthropic-dangerous-direct-browser-access';

function headerString(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function applyCors(list: HeaderList, req: RequestFacts, surface: HttpSurfaceOptions): void {
  if (surface.corsPackage) {
    // `cors()` defaults, non-preflight: only the wildcard origin.
    list.set('Access-Control-Allow-Origin', '*');
    return;
  }
  const origin = headerString(req.headers, 'origin');
  if (!origin || CUSTOM_CORS_ORIGINS.has(origin) || origin.startsWith('chrome-extension://')) {
    list.set('Access-Control-Allow-Origin', origin || '*');
  }
  list.set('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE, OPTIONS');
  list.set('Access-Control-Allow-Headers', CUSTOM_CORS_ALLOW_HEADERS);
  list.set('Access-Control-Expose-Headers', 'X-Request-ID, Content-Type');
  list.set('Access-Control-Max-Age', '86400');
  list.set('Access-Control-Allow-Credentials', 'true');
}

/** `req.secure || X-Forwarded-Proto === 'https'` with the legacy's `trust proxy = 1`. */
export function isHttpsRequest(req: RequestFacts): boolean {
  if (req.encrypted) return true;
  const xfp = headerString(req.headers, 'x-forwarded-proto');
  if (!xfp) return false;
  return xfp === 'https' || xfp.split(',')[0]!.trim() === 'https';
}

function applySecurity(list: HeaderList, req: RequestFacts): void {
  list.set('X-Content-Type-Options', 'nosniff');
  list.set('X-Frame-Options', 'DENY');
  list.set('X-XSS-Protection', '1; mode=block');
  list.set('Referrer-Policy', 'strict-origin-when-cross-origin');
  list.set('X-DNS-Prefetch-Control', 'off');
  list.set('X-Download-Options', 'noopen');
  list.set('X-Permitted-Cross-Domain-Policies', 'none');
  const host = headerString(req.headers, 'host') ?? '';
  const https = isHttpsRequest(req);
  if (host.includes('localhost') || host.includes('127.0.0.1') || host.includes('0.0.0.0') || https) {
    list.set('Cross-Origin-Opener-Policy', 'same-origin');
    list.set('Cross-Origin-Resource-Policy', 'same-origin');
    list.set('Origin-Agent-Cluster', '?1');
  }
  if (req.path.startsWith('/web') || req.path === '/') list.set('Content-Security-Policy', CSP_VALUE);
  if (https) list.set('Strict-Transport-Security', 'max-age=15552000; includeSubDomains');
  list.set('Cache-Control', 'no-cache, no-store, must-revalidate');
  list.set('Pragma', 'no-cache');
  list.set('Expires', '0');
}

/**
 * The envelope headers the legacy had set when a handler at `stage` started writing.
 * `requestId` is required for every stage except `before-logger`.
 */
export function envelopeHeaders(
  req: RequestFacts,
  surface: HttpSurfaceOptions,
  stage: PipelineStage,
  requestId?: string,
): HeaderList {
  const list = new HeaderList().merge(HELMET);
  applyCors(list, req, surface);
  if (stage === 'before-logger') return list;
  list.set('X-Request-ID', requestId ?? 'unknown');
  if (stage === 'routed') applySecurity(list, req);
  return list;
}

/** Path of a raw request URL without the query string. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.substring(0, q);
}

/** The facts the envelope needs, from a Node request. */
export function requestFactsOf(req: IncomingMessage): RequestFacts {
  const socket = req.socket as { encrypted?: boolean } | null;
  return { method: req.method ?? 'GET', path: pathOf(req.url), headers: req.headers, encrypted: socket?.encrypted === true };
}
