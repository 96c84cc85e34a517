import { Agent as HttpAgent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { setRawHeaders } from './raw-headers.js';
import { matchKey, RecordingStore, type RecordedRequest, type UpstreamRecording } from './recording.js';

/**
 * The upstream tap: the shadow's guarantee that the paid upstream is called once per client
 * request.
 *
 * - primary port: the legacy's account `apiUrl` (or the migrated primary's upstreamOverride)
 *   points here. Each call is forwarded to `target` unchanged (streamed, unbuffered) and recorded.
 * - candidate port: the candidate's `upstreamOverride` points here. A call is answered from the
 *   primary's recording with the same method + path + normalised body; failing that, from the
 *   one recording of the same method + path made during the primary's request window (the
 *   difference in the request is reported); failing that, with a 502 "not available in shadow".
 *   Nothing on this port ever reaches the real upstream.
 */

export interface UpstreamTapOptions {
  /** Real upstream base URL, e.g. http://127.0.0.1:18080 or https://api.anthropic.com. */
  target: string;
  host?: string;
  primaryPort?: number;
  candidatePort?: number;
  maxRecordings?: number;
  recordingTtlMs?: number;
  /** Wall clock for recording windows (injected for tests). */
  now?: () => number;
  /**
   * Also act as an HTTP CONNECT proxy on the primary port, terminating TLS with this certificate
   * (the primary must trust its CA): for accounts that reach a fixed HTTPS host through a proxy
   * (the legacy's official accounts call https://api.anthropic.com via the account proxy).
   */
  tls?: { cert: Buffer | string; key: Buffer | string };
  /** Where tunnelled requests go (default: https://<CONNECT host:port>). */
  connectTarget?: string;
}

export type CandidateCallOutcome = 'replayed' | 'replayed-by-correlation' | 'not-available';

export interface CandidateUpstreamCall {
  request: RecordedRequest;
  outcome: CandidateCallOutcome;
  recordingId?: string;
  /** The primary's request to the upstream, when one was matched (for the upstream-request diff). */
  primaryRequest?: RecordedRequest;
}

export interface CandidateRunWindow {
  /** Wall-clock window of the primary's handling of the client request. */
  fromMs: number;
  toMs: number;
}

export interface CandidateUpstreamLog {
  calls: CandidateUpstreamCall[];
  /** Recordings made on the primary side during the window (what the primary called). */
  primaryCalls: UpstreamRecording[];
}

export const NOT_AVAILABLE_BODY = JSON.stringify({
  type: 'error',
  error: { type: 'shadow_upstream_not_available', message: 'upstream exchange not available in shadow' },
});

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export class UpstreamTap {
  readonly store: RecordingStore;
  primaryPort = 0;
  candidatePort = 0;
  /** Calls forwarded to the real upstream (one per primary upstream call). */
  forwarded = 0;
  private readonly target: URL;
  private readonly now: () => number;
  private readonly primaryServer: Server;
  private readonly candidateServer: Server;
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });
  /** TLS sockets opened through CONNECT, and where their requests go. */
  private readonly tunnels = new WeakMap<object, URL>();
  private readonly rawSockets = new Set<Socket>();
  /** CONNECT tunnels opened (the primary reached the tap as its proxy). */
  tunnelsOpened = 0;
  private window: (CandidateRunWindow & { log: CandidateUpstreamLog }) | undefined;

  constructor(private readonly opts: UpstreamTapOptions) {
    this.target = new URL(opts.target);
    this.now = opts.now ?? (() => Date.now());
    this.store = new RecordingStore(opts.maxRecordings, opts.recordingTtlMs);
    this.primaryServer = createServer((req, res) => void this.forward(req, res));
    this.candidateServer = createServer((req, res) => void this.replay(req, res));
    // A request Node cannot parse never reaches replay(): keep it in the run's log all the same.
    this.candidateServer.on('clientError', (err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket) => {
      this.window?.log.calls.push({
        request: { method: '(unparseable)', url: `(${err.code ?? err.message})`, rawHeaders: [], body: Buffer.from(err.rawPacket ?? Buffer.alloc(0)) },
        outcome: 'not-available',
      });
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    if (opts.tls) {
      const context = createSecureContext({ cert: opts.tls.cert, key: opts.tls.key });
      this.primaryServer.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        this.rawSockets.add(socket);
        socket.on('close', () => this.rawSockets.delete(socket));
        socket.on('error', () => {});
        const target = new URL(opts.connectTarget ?? `https://${req.url ?? ''}`);
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) socket.unshift(head);
        const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
        secure.on('error', () => {});
        this.tunnels.set(secure, target);
        this.tunnelsOpened++;
        this.primaryServer.emit('connection', secure);
      });
    }
  }

  async start(): Promise<this> {
    const host = this.opts.host ?? '127.0.0.1';
    this.primaryPort = await listen(this.primaryServer, this.opts.primaryPort ?? 0, host);
    this.candidatePort = await listen(this.candidateServer, this.opts.candidatePort ?? 0, host);
    return this;
  }

  /** Host (and port) of the real upstream, as the primary's forwarded requests carry it. */
  get targetHost(): string {
    return this.target.host;
  }

  get primaryUrl(): string {
    return `http://127.0.0.1:${this.primaryPort}`;
  }

  get candidateUrl(): string {
    return `http://127.0.0.1:${this.candidatePort}`;
  }

  /** Candidate runs are serial: every candidate call until the next begin is logged here. */
  beginCandidateRun(window: CandidateRunWindow): CandidateUpstreamLog {
    const log: CandidateUpstreamLog = { calls: [], primaryCalls: this.store.between(window.fromMs, window.toMs) };
    this.window = { ...window, log };
    return log;
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const sock of this.rawSockets) sock.destroy();
    this.primaryServer.closeAllConnections();
    this.candidateServer.closeAllConnections();
    await Promise.all([
      new Promise<void>((r) => this.primaryServer.close(() => r())),
      new Promise<void>((r) => this.candidateServer.close(() => r())),
    ]);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req).catch(() => Buffer.alloc(0));
    const url = req.url ?? '/';
    const request: RecordedRequest = { method: req.method ?? 'GET', url, rawHeaders: [...req.rawHeaders], body };
    const rec = this.store.add(matchKey(request.method, url, body), request, this.now());
    const target = this.tunnels.get(req.socket) ?? this.target;
    const base = target.pathname.replace(/\/$/, '');
    const https = target.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    this.forwarded++;
    const upstream = send(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port || undefined,
        method: request.method,
        path: base + url,
        agent: https ? this.httpsAgent : this.httpAgent,
      },
      (up) => {
        rec.head(up.statusCode ?? 502, up.statusMessage ?? '', [...up.rawHeaders]);
        res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
        res.flushHeaders();
        up.on('data', (chunk: Buffer) => {
          rec.chunk(chunk);
          res.write(chunk);
        });
        up.on('end', () => {
          rec.finish();
          res.end();
        });
        up.on('error', (err) => {
          rec.fail(err.message);
          res.destroy(err);
        });
      },
    );
    upstream.on('error', (err) => {
      rec.fail(err.message);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'upstream tap: cannot reach upstream', message: err.message }));
      } else res.destroy(err);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    setRawHeaders(upstream, req.rawHeaders, { host: target.host });
    upstream.end(body);
  }

  private async replay(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req).catch(() => Buffer.alloc(0));
    const url = req.url ?? '/';
    const request: RecordedRequest = { method: req.method ?? 'GET', url, rawHeaders: [...req.rawHeaders], body };
    const window = this.window;
    const key = matchKey(request.method, url, body);
    let rec = window?.log.primaryCalls.find((r) => r.key === key);
    let outcome: CandidateCallOutcome = 'replayed';
    if (!rec && window) {
      const samePath = window.log.primaryCalls.filter((r) => r.request.method === request.method && r.request.url === url);
      if (samePath.length === 1) {
        rec = samePath[0];
        outcome = 'replayed-by-correlation';
      }
    }
    // Outside any window (no correlation possible) an exact key match is still the primary's answer.
    if (!rec && !window) rec = this.store.byKey(key, this.now());
    const call: CandidateUpstreamCall = rec
      ? { request, outcome, recordingId: rec.id, primaryRequest: rec.request }
      : { request, outcome: 'not-available' };
    window?.log.calls.push(call);
    if (!rec) {
      res.writeHead(502, ['Content-Type', 'application/json', 'X-Shadow-Tap', 'not-available']);
      res.end(NOT_AVAILABLE_BODY);
      return;
    }
    await rec.headReady();
    if (!rec.status) {
      call.outcome = 'not-available';
      res.writeHead(502, ['Content-Type', 'application/json', 'X-Shadow-Tap', 'not-available']);
      res.end(NOT_AVAILABLE_BODY);
      return;
    }
    res.writeHead(rec.status, rec.statusMessage, forThisHop(rec.rawHeaders, /\bclose\b/i.test(String(req.headers.connection ?? ''))));
    res.flushHeaders();
    for (const c of rec.chunks) res.write(c.bytes);
    if (rec.done) {
      res.end();
      return;
    }
    const onChunk = (c: { bytes: Buffer }) => res.write(c.bytes);
    rec.on('chunk', onChunk);
    rec.once('end', () => {
      rec.off('chunk', onChunk);
      res.end();
    });
  }
}

/**
 * The recorded answer's headers, kept in place, except that a candidate that asked for
 * `Connection: close` is told `close` (the recording came over another socket): otherwise its
 * client would reuse a socket this server closes.
 */
function forThisHop(raw: string[], clientWantsClose: boolean): string[] {
  if (!clientWantsClose) return raw;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === 'keep-alive') continue;
    out.push(raw[i]!, lower === 'connection' ? 'close' : raw[i + 1]!);
  }
  return out;
}
