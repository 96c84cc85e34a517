import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { writeLegacyFailure, type LegacyFailure } from './error-response.js';
import type { ClientAddress } from './client-address.js';
import { forwardedValues } from './forwarded-headers.js';

/**
 * The legacy side: a transparent reverse proxy to LEGACY_URL (http-proxy-3).
 * - Response status, reason phrase, header names/casing/order and body bytes are written exactly as the
 *   legacy sent them (flat rawHeaders to writeHead, so Node adds nothing the legacy did not send).
 * - Bodies stream both ways; SSE chunks are written as they arrive.
 * - Keep-alive agent to the legacy; X-Real-IP / X-Forwarded-For / X-Forwarded-Proto like the legacy's nginx,
 *   or passed unchanged when the peer is a trusted proxy (the nginx in front: client-address.ts).
 * - Client disconnect destroys the legacy request; unreachable legacy → 502, idle longer than
 *   `timeoutMs` before the response head → 504, both as JSON in the legacy's error shape; idle that long
 *   after the head → the client connection is closed.
 */

export interface LegacyBridgeOptions {
  legacyUrl: string;
  /** Idle timeout on the legacy socket (nginx proxy_read_timeout), default 600 s. */
  timeoutMs: number;
  now?: () => number;
  /** Called once per failed forward (for metrics/logs). */
  onFailure?: (kind: LegacyFailure, err: Error, req: IncomingMessage) => void;
}

export interface LegacyBridge {
  /** `client`: resolveClientAddress(req, …) — decides whether the X-Forwarded-* headers are set or passed on. */
  forward(req: IncomingMessage, res: ServerResponse, client: ClientAddress): void;
  readonly agent: Agent;
  close(): void;
}

const failureKind = (err: NodeJS.ErrnoException, timedOut: boolean): LegacyFailure =>
  timedOut || err.code === 'ETIMEDOUT' ? 'timeout' : err.code === 'ECONNRESET' ? 'reset' : 'unreachable';

/** Whether the client asked to close its connection after this exchange (HTTP/1.0 default, or Connection: close). */
function clientWantsClose(req: IncomingMessage): boolean {
  const c = req.headers.connection?.toLowerCase();
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return !c?.includes('keep-alive');
  return c !== undefined && c.includes('close');
}

/**
 * Response headers to pass on: the legacy's, unchanged, with one exception. The hop to the legacy is always
 * keep-alive, so for a client that asked to close, the `Connection: keep-alive` + `Keep-Alive: timeout=N`
 * pair Node added on the legacy's side (exactly that casing, adjacent) becomes `Connection: close` — what the
 * legacy answers such a client directly. A Connection header the legacy's handler set itself (SSE, copied
 * upstream headers) is passed as is, as the legacy would send it to that client too.
 * HTTP/1.0 clients: Node decides framing and connection handling.
 */
function responseHeaders(req: IncomingMessage, proxyRes: IncomingMessage, close: boolean): string[] {
  const raw = proxyRes.rawHeaders;
  if (!close && req.httpVersionMinor === 1) return raw;
  const http10 = req.httpVersionMinor === 0;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (
      name === 'Connection' &&
      raw[i + 1] === 'keep-alive' &&
      raw[i + 2] === 'Keep-Alive' &&
      /^timeout=\d+$/.test(raw[i + 3] ?? '')
    ) {
      if (!http10) out.push('Connection', 'close');
      i += 2;
      continue;
    }
    if (http10) {
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
    }
    out.push(name, raw[i + 1]!);
  }
  return out;
}

export function createLegacyBridge(opts: LegacyBridgeOptions): LegacyBridge {
  const now = opts.now ?? Date.now;
  const agent = new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
  const target = new URL(opts.legacyUrl);
  const proxy = createProxyServer({
    target,
    agent,
    selfHandleResponse: true,
    xfwd: false,
    changeOrigin: false,
  });
  const timedOut = new WeakSet<IncomingMessage>();
  /** Requests whose client asked to close (decided before req.headers.connection is rewritten). */
  const closing = new WeakSet<IncomingMessage>();

  proxy.on('proxyReq', (proxyReq, req) => {
    proxyReq.setTimeout(opts.timeoutMs, () => {
      timedOut.add(req);
      const err: NodeJS.ErrnoException = new Error(`no response within ${opts.timeoutMs} ms`);
      err.code = 'ETIMEDOUT';
      proxyReq.destroy(err);
    });
  });

  proxy.on('proxyRes', (proxyRes, req, res) => {
    if (res.headersSent || res.destroyed) {
      proxyRes.destroy();
      return;
    }
    // The idle timeout stays on while the body streams (like nginx's proxy_read_timeout): a legacy silent for
    // LEGACY_TIMEOUT_MS mid-body ends the client's connection (the answer cannot be completed).
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, responseHeaders(req, proxyRes, closing.has(req)));
    // A streamed answer (SSE, chunked) shows its head at once; a sized one goes out with its body in one write.
    if (proxyRes.headers['content-length'] === undefined) res.flushHeaders();
    proxyRes.on('error', () => res.destroy());
    proxyRes.on('aborted', () => res.destroy());
    proxyRes.pipe(res);
  });

  const onError = (err: Error, req: IncomingMessage, res: ServerResponse | import('node:net').Socket) => {
    const e = err as NodeJS.ErrnoException;
    const kind = failureKind(e, timedOut.has(req));
    opts.onFailure?.(kind, e, req);
    if ('writeHead' in res) writeLegacyFailure(res, kind, e.message || e.code || 'error', now());
    else res.destroy();
  };

  return {
    agent,
    forward(req, res, client) {
      // What the legacy's nginx adds (a trusted proxy's own values go on as sent); the hop to the legacy stays
      // keep-alive (the client's wish is kept for the answer). Set on req.headers directly: http-proxy copies
      // them once for the outgoing request.
      if (clientWantsClose(req)) closing.add(req);
      if (!client.trustedPeer) Object.assign(req.headers, forwardedValues(req.headers['x-forwarded-for'], client.clientIp, client.encrypted));
      req.headers.connection = 'keep-alive';
      proxy.web(req, res, onError);
    },
    close() {
      proxy.close();
      agent.destroy();
    },
  };
}
