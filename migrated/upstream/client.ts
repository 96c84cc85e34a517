import type { AgentPool } from './agents.js';
import { ConnectionPool, type Origin } from './h1/connection-pool.js';
import { connReset, Exchange } from './h1/exchange.js';
import { requestHead } from './h1/request-head.js';
import type { UpstreamResponse } from './h1/upstream-response.js';
import type { ProxyConfig } from './proxy.js';

export interface UpstreamCall {
  url: URL;
  method: 'POST' | 'GET';
  /** Flat [name, value, …] in wire order, names as they should appear (Host included). */
  headers: string[];
  body: Buffer;
  proxy: ProxyConfig | null;
  /** Socket inactivity timeout (legacy REQUEST_TIMEOUT, default 600000 ms). */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** What a `signal` abort rejects with (or destroys the response with): Node's own AbortError shape. */
export class UpstreamAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(cause: unknown) {
    super('The operation was aborted', { cause });
  }
}

export class UpstreamTimeoutError extends Error {
  readonly code = 'TIMEOUT';
  constructor() {
    super('Request timeout');
  }
}

/**
 * Sends one request and resolves with the response head as soon as it arrives; the body is
 * left to the caller to stream. Rejects with the Node error (code ECONNREFUSED, ECONNRESET …),
 * UpstreamTimeoutError on inactivity, or an UpstreamAbortError when `signal` fires (before the response head,
 * or later: then the response is destroyed with it).
 *
 * The exchange is our own HTTP/1.1 over the pool's keep-alive connections (h1/): the same bytes on the wire as
 * `http.request` with a flat header list (h1/request-head.ts), the same errors, and the response fields the
 * relay reads. Node's client costs ~0.2 ms more on a cold streamed request before the request is written
 * (ClientRequest, agent, a parser and socket listeners per request) and more again when the response arrives
 * (session 7's timeline: http.request() alone took 0.12-0.19 ms). A free connection is written to in the same
 * tick; a new one queues the write until it connects.
 */
export function sendUpstream(pool: AgentPool, call: UpstreamCall): Promise<{ response: UpstreamResponse; abort: (err?: Error) => void }> {
  const signal = call.signal;
  if (signal?.aborted) return Promise.reject(new UpstreamAbortError(signal.reason));
  let head;
  try {
    head = requestHead(call.method, `${call.url.pathname}${call.url.search}`, call.headers);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  const isHttps = call.url.protocol === 'https:';
  const origin: Origin = { protocol: isHttps ? 'https:' : 'http:', hostname: hostOf(call.url), port: Number(call.url.port) || (isHttps ? 443 : 80), proxy: call.proxy };
  const key = ConnectionPool.keyOf(origin);
  const onAbort = () => exchange.fail(new UpstreamAbortError(signal!.reason));
  const exchange = new Exchange(pool.connections, key, head, call.body, call.timeoutMs, () => new UpstreamTimeoutError(), () => signal?.removeEventListener('abort', onAbort));
  signal?.addEventListener('abort', onAbort, { once: true });
  exchange.start(pool.connections.acquire(origin, key));
  return exchange.result;
}

/** The URL's host as a connectable name (IPv6 literals without their brackets). */
const hostOf = (url: URL): string => (url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname);

/** Reads a whole response body (decoding gzip/deflate is the caller's concern). */
export function readBody(response: UpstreamResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    response.once('end', () => resolve(Buffer.concat(chunks)));
    response.once('error', reject);
    response.once('aborted', () => reject(connReset('socket hang up')));
  });
}
