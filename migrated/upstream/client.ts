import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AgentPool } from './agents.js';
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
 * The signal is watched by one listener of our own, removed when the request closes, rather than by
 * http.request's `signal` option: that one wraps the request in end-of-stream tracking (~80 us of a cold streamed
 * request's critical path, measured with a CPU profile in session 6).
 */
export function sendUpstream(pool: AgentPool, call: UpstreamCall): Promise<{ response: IncomingMessage; abort: (err?: Error) => void }> {
  return new Promise((resolve, reject) => {
    const signal = call.signal;
    if (signal?.aborted) {
      reject(new UpstreamAbortError(signal.reason));
      return;
    }
    const isHttps = call.url.protocol === 'https:';
    const send = isHttps ? httpsRequest : httpRequest;
    const req = send({
      protocol: call.url.protocol,
      hostname: call.url.hostname,
      port: call.url.port || (isHttps ? 443 : 80),
      path: `${call.url.pathname}${call.url.search}`,
      method: call.method,
      headers: call.headers,
      agent: pool.agentFor(isHttps ? 'https:' : 'http:', call.proxy),
      setHost: false,
    });
    if (signal) {
      const onAbort = () => req.destroy(new UpstreamAbortError(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('close', () => signal.removeEventListener('abort', onAbort));
    }
    req.setTimeout(call.timeoutMs, () => req.destroy(new UpstreamTimeoutError()));
    req.once('error', reject);
    req.once('response', (response) => {
      req.removeListener('error', reject);
      req.on('error', (err) => response.destroy(err));
      resolve({ response, abort: (err?: Error) => req.destroy(err) });
    });
    req.end(call.body);
  });
}

/** Reads a whole response body (decoding gzip/deflate is the caller's concern). */
export function readBody(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (c: Buffer) => chunks.push(c));
    response.once('end', () => resolve(Buffer.concat(chunks)));
    response.once('error', reject);
    response.once('aborted', () => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
  });
}
