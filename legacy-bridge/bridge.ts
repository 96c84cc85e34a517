import { Agent, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import { writeLegacyFailure, type LegacyFailure } from './error-response.js';
import type { ClientAddress } from './client-address.js';
import { setForwardedHeaders } from './forwarded-headers.js';
import { LegacyAgent } from './legacy-agent.js';

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

/**
 * What the bridge reports about the answer it writes (the request log's TTFB and bytes), so the gateway
 * need not wrap the response's write methods on the legacy path.
 */
export interface ResponseMeter {
  /** performance.now() when the head was written, or 0. */
  headAt: number;
  /** Body bytes written to the client. */
  bytes: number;
}

export interface LegacyBridge {
  /**
   * `client`: resolveClientAddress(req, …) — decides whether the X-Forwarded-* headers are set or passed on.
   * `meter`: filled with the head time and body bytes of the answer (omit when the response is probed otherwise).
   */
  forward(req: IncomingMessage, res: ServerResponse, client: ClientAddress, meter?: ResponseMeter): void;
  readonly agent: Agent;
  close(): void;
}

/** Our own idle timeout ends the request with code ETIMEDOUT (onProxyTimeout below). */
const failureKind = (err: NodeJS.ErrnoException): LegacyFailure =>
  err.code === 'ETIMEDOUT' ? 'timeout' : err.code === 'ECONNRESET' ? 'reset' : 'unreachable';

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

/** Per-request state the bridge's shared handlers need (no closures per request). */
interface Exchange {
  /** The client asked to close (decided before req.headers.connection is rewritten). */
  close: boolean;
  meter: ResponseMeter | undefined;
}

const exchanges = new WeakMap<IncomingMessage, Exchange>();

/** Set on the legacy's response while it is piped: the client's response and the meter (shared listeners read them). */
const kClient = Symbol('gateway.client');
const kMeter = Symbol('gateway.meter');
type LegacyResponse = IncomingMessage & { [kClient]?: ServerResponse; [kMeter]?: ResponseMeter };

function countBytes(this: LegacyResponse, chunk: Buffer): void {
  this[kMeter]!.bytes += chunk.length;
}

/**
 * A streamed answer's last bytes and its end usually come in one read (the legacy's `res.end(lastEvent)`):
 * 'data' is emitted during the parse, the end a tick later, and Node writes each on its own (two writes, two
 * packets). Checked on the tick after a chunk: when the answer is complete, the client socket stays corked
 * until `res.end()` (which uncorks fully), so the last chunk and the chunked terminator leave in one write.
 */
function holdForEnd(proxyRes: LegacyResponse): void {
  if (!proxyRes.complete) return;
  const socket = proxyRes[kClient]?.socket;
  if (!socket || socket.destroyed) return;
  socket.cork();
  // The end is already queued (it was scheduled during the same parse); should it be held back (the client
  // reading slowly: the pipe paused), this uncork, a tick later, lets the data flow on regardless.
  process.nextTick(release, socket);
}

function release(socket: Socket): void {
  if (socket.writableCorked > 0) socket.uncork();
}

function onStreamedChunk(this: LegacyResponse): void {
  process.nextTick(holdForEnd, this);
}

function destroyClient(this: LegacyResponse): void {
  this[kClient]?.destroy();
}

/**
 * A streamed answer (SSE, chunked) shows its head at once — unless body bytes came with it: the pipe writes
 * them in this same round of ticks, and the head goes out with them in one write (one packet, one wake-up
 * for the client, as the legacy itself sends it). Runs after the pipe's first flow (ticks run in order).
 */
function flushHeadIfAlone(res: ServerResponse): void {
  if (!res.destroyed && (res as unknown as { _headerSent: boolean })._headerSent === false) res.flushHeaders();
}

/** The upstream target as a plain object when LEGACY_URL has no path: http-proxy then joins paths without parsing a URL. */
function proxyTarget(url: URL): URL | { protocol: string; host: string; hostname: string; port: string } {
  if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') return url;
  return { protocol: url.protocol, host: url.host, hostname: url.hostname, port: url.port };
}

/**
 * A request target that WHATWG URL parsing (what http-proxy does to every path) returns unchanged: only
 * characters that are never percent-encoded, no dot segment (`/.`, `%2e`), no backslash, quote or fragment.
 * Such paths are passed on as they are; any other goes through http-proxy's normalization as before.
 */
const PLAIN_PATH = /^\/[A-Za-z0-9\-_~!$&()*+,;=:@/?%.]*$/;
export function isPlainPath(url: string): boolean {
  return PLAIN_PATH.test(url) && !url.includes('/.') && !/%2e/i.test(url);
}

export function createLegacyBridge(opts: LegacyBridgeOptions): LegacyBridge {
  const now = opts.now ?? Date.now;
  const target = new URL(opts.legacyUrl);
  const agent = new LegacyAgent(target, { keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' });
  const proxyOptions = {
    target: proxyTarget(target) as URL,
    agent,
    selfHandleResponse: true,
    xfwd: false,
    changeOrigin: false,
  };
  // Two proxies over one pool: `plain` takes the path as received (toProxy: no URL parse per request), for
  // paths on which the parse changes nothing (isPlainPath); `normalizing` is http-proxy's default.
  const normalizing = createProxyServer(proxyOptions);
  const plain = createProxyServer({ ...proxyOptions, toProxy: true });
  const timeoutMessage = `no response within ${opts.timeoutMs} ms`;

  /** 'timeout' listener on the outgoing request (`this`): ends it with an ETIMEDOUT error (→ 504 before the head). */
  function onProxyTimeout(this: ClientRequest): void {
    const err: NodeJS.ErrnoException = new Error(timeoutMessage);
    err.code = 'ETIMEDOUT';
    this.destroy(err);
  }

  const onProxyReq = (proxyReq: ClientRequest) => {
    proxyReq.setTimeout(opts.timeoutMs, onProxyTimeout);
    // A request carrying the client's `close` never goes back to the pool: the legacy's SSE handlers answer
    // `Connection: keep-alive` while its parser has already marked that connection closing, so a reused
    // socket would get a bare 400.
    if (String(proxyReq.getHeader('connection') ?? '').toLowerCase() === 'close') proxyReq.shouldKeepAlive = false;
  };

  const onProxyRes = (proxyRes: LegacyResponse, req: IncomingMessage, res: ServerResponse) => {
    if (res.headersSent || res.destroyed) {
      proxyRes.destroy();
      return;
    }
    const ex = exchanges.get(req);
    // The idle timeout stays on while the body streams (like nginx's proxy_read_timeout): a legacy silent for
    // LEGACY_TIMEOUT_MS mid-body ends the client's connection (the answer cannot be completed).
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, responseHeaders(req, proxyRes, ex?.close === true));
    proxyRes[kClient] = res;
    const meter = ex?.meter;
    if (meter) {
      meter.headAt = performance.now();
      proxyRes[kMeter] = meter;
      proxyRes.on('data', countBytes);
    }
    proxyRes.on('error', destroyClient);
    proxyRes.on('aborted', destroyClient);
    const streamed = proxyRes.headers['content-length'] === undefined;
    if (streamed) proxyRes.on('data', onStreamedChunk);
    proxyRes.pipe(res);
    // A sized answer goes out with its body in one write; a streamed one shows its head at once (see flushHeadIfAlone).
    if (streamed) process.nextTick(flushHeadIfAlone, res);
  };

  for (const proxy of [normalizing, plain]) {
    proxy.on('proxyReq', onProxyReq);
    proxy.on('proxyRes', onProxyRes);
  }

  const onError = (err: Error, req: IncomingMessage, res: ServerResponse | import('node:net').Socket) => {
    const e = err as NodeJS.ErrnoException;
    const kind = failureKind(e);
    opts.onFailure?.(kind, e, req);
    if (!('writeHead' in res)) return void res.destroy();
    const headSent = res.headersSent;
    const bytes = writeLegacyFailure(res, kind, e.message || e.code || 'error', now());
    const meter = exchanges.get(req)?.meter;
    if (meter && !headSent && bytes > 0) {
      meter.headAt ||= performance.now();
      meter.bytes += bytes;
    }
  };

  return {
    agent,
    forward(req, res, client, meter) {
      // What the legacy's nginx adds (a trusted proxy's own values go on as sent). The hop to the legacy stays
      // keep-alive, except for an HTTP/1.1 client that asked to close: the legacy must see that `close`, because
      // its official relay forwards the client's Connection upstream and copies the upstream's answer into its
      // response (a keep-alive there would tell the client to reuse a socket we are closing). Set on
      // req.headers directly: http-proxy copies them once for the outgoing request.
      const close = clientWantsClose(req);
      if (close || meter) exchanges.set(req, { close, meter });
      if (!client.trustedPeer) setForwardedHeaders(req.headers, client.clientIp, client.encrypted);
      if (!close || req.httpVersionMinor === 0) req.headers.connection = 'keep-alive';
      (isPlainPath(req.url ?? '') ? plain : normalizing).web(req, res, onError);
    },
    close() {
      plain.close();
      normalizing.close();
      agent.destroy();
    },
  };
}
