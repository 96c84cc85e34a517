import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import { countTokensPlan, messagesPlan, modelsPlan } from './anthropic.js';
import { bedrockPlan, geminiPlan, oauthTokenPlan, openAiChatPlan, openAiResponsesPlan } from './other-providers.js';
import { defaultSettings, jsonPlan, type MockRequest, type MockSettings, type Plan } from './plan.js';
import { ReplayBook, type ReplayEntry } from './replay-book.js';

/**
 * The deterministic mock upstream. Serves the Anthropic lab API (byte-identical to
 * ../shared/lab/mock-upstream.mjs), OpenAI, Gemini, Bedrock and OAuth shapes; records every
 * request WITH its answer (status, raw headers, body bytes, chunk timing); in replay mode it
 * answers from recorded upstream exchanges first. Optional CONNECT proxy terminating TLS with
 * a lab certificate (for services that hard-code https://api.anthropic.com).
 */

export interface RecordedUpstream {
  seq: number;
  ts: string;
  via: 'http' | 'tls-proxy';
  sni: string | null;
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: unknown;
  bodyRaw: string;
  /** Exact request body bytes, base64 (bodyRaw is their UTF-8 reading, like the lab mock). */
  bodyBase64: string;
  status: number;
  response: { status: number; rawHeaders: string[]; bodyBase64: string; chunks: Array<{ tMs: number; bytes: number }> };
  /** Answered from a recorded exchange (replay) rather than generated. */
  replayed: boolean;
}

export interface MockUpstreamOptions {
  port?: number;
  /** Also listen as an HTTP CONNECT proxy terminating TLS (needs certDir with leaf.key/leaf.pem). */
  proxyPort?: number;
  certDir?: string;
  settings?: Partial<MockSettings>;
  ringSize?: number;
  replay?: ReplayEntry[];
}

export interface MockUpstream {
  url: string;
  port: number;
  proxyUrl: string | null;
  settings: MockSettings;
  requests(since?: number): RecordedUpstream[];
  /** Answer from these recorded exchanges (in order, matched by method + path + body) before generating. */
  setReplay(entries: ReplayEntry[]): void;
  reset(): void;
  close(): Promise<void>;
}

const ALLOWED_CONNECT_HOSTS = new Set(['api.anthropic.com', 'console.anthropic.com', 'claude.ai', 'platform.claude.com', 'localhost', '127.0.0.1']);

function route(req: MockRequest, s: MockSettings): Plan | null {
  const { method, path } = req;
  if (method === 'POST' && path === '/v1/messages') return messagesPlan(req, s);
  if (method === 'POST' && path === '/v1/messages/count_tokens') return countTokensPlan(req, s);
  if (method === 'GET' && path === '/v1/models') return modelsPlan();
  if (method === 'POST' && path === '/v1/oauth/token') return oauthTokenPlan(req, s);
  if (method === 'POST' && /\/chat\/completions$/.test(path)) return openAiChatPlan(req, s);
  if (method === 'POST' && /\/responses(\/compact)?$/.test(path)) return openAiResponsesPlan(req, s);
  const gem = path.match(/:(generateContent|streamGenerateContent)$/);
  if (method === 'POST' && gem) return geminiPlan(req, s, gem[1] === 'streamGenerateContent');
  const bed = path.match(/^\/model\/([^/]+)\/(invoke|invoke-with-response-stream)$/);
  if (method === 'POST' && bed) return bedrockPlan(req, s, bed[2] === 'invoke-with-response-stream', decodeURIComponent(bed[1]!));
  return null;
}

async function execute(res: ServerResponse, plan: Plan, t0: number, chunks: Array<{ tMs: number; bytes: number }>, body: Buffer[]): Promise<void> {
  res.writeHead(plan.status, plan.headers);
  for (const step of plan.steps) {
    if (res.destroyed) return;
    if ('sleep' in step) {
      if (step.sleep > 0) await new Promise((r) => setTimeout(r, step.sleep));
      continue;
    }
    res.write(step.write);
    chunks.push({ tMs: Math.round((performance.now() - t0) * 10) / 10, bytes: step.write.length });
    body.push(step.write);
  }
  res.end();
}

/**
 * The answer's header lines exactly as they went on the wire: name/value pairs in order, with the
 * names' case and the lines Node adds itself (Date, Connection, Keep-Alive, Transfer-Encoding).
 * Headers given to writeHead(status, headers) never reach res.getHeaders(); Node keeps the
 * serialised head (status line + header lines) in `_header` once it is written.
 */
function sentHeaders(res: ServerResponse): string[] {
  const head = (res as ServerResponse & { _header?: unknown })._header;
  if (typeof head !== 'string') return [];
  const out: string[] = [];
  for (const line of head.split('\r\n').slice(1)) {
    if (!line) break;
    const colon = line.indexOf(':');
    out.push(line.slice(0, colon), line.slice(colon + 1).replace(/^ /, ''));
  }
  return out;
}

export async function startMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const settings: MockSettings = { ...defaultSettings(), ...opts.settings };
  const ringSize = opts.ringSize ?? 500;
  let ring: RecordedUpstream[] = [];
  let seq = 0;
  const book = new ReplayBook(opts.replay ?? []);

  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const rawBuf = Buffer.concat(parts);
    const raw = rawBuf.toString('utf8');
    const url = new URL(req.url ?? '/', 'http://mock');
    let body: any = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      body = null;
    }
    const mreq: MockRequest = { method: req.method ?? 'GET', path: url.pathname, search: url.searchParams, headers: req.headers, raw, body };
    if (url.pathname.startsWith('/__mock/')) {
      await execute(res, control(mreq), t0, [], []);
      return;
    }
    const socket = req.socket as Socket & { encrypted?: boolean; servername?: string };
    const chunks: Array<{ tMs: number; bytes: number }> = [];
    const sent: Buffer[] = [];
    const replayed = book.take(mreq.method, req.url ?? '/', rawBuf);
    let plan: Plan;
    try {
      plan = replayed ?? route(mreq, settings) ?? jsonPlan(404, { type: 'error', error: { type: 'not_found_error', message: `mock: ${mreq.method} ${mreq.path}` } });
      await execute(res, plan, t0, chunks, sent);
    } catch (err) {
      if (!res.headersSent) {
        plan = jsonPlan(500, { type: 'error', error: { type: 'api_error', message: String(err) } });
        await execute(res, plan, t0, chunks, sent);
      } else res.destroy();
    }
    const entry: RecordedUpstream = {
      seq: ++seq,
      ts: new Date().toISOString(),
      via: socket.encrypted ? 'tls-proxy' : 'http',
      sni: socket.servername || null,
      method: mreq.method,
      url: req.url ?? '/',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: body ?? raw,
      bodyRaw: raw,
      bodyBase64: rawBuf.toString('base64'),
      status: res.statusCode,
      response: { status: res.statusCode, rawHeaders: sentHeaders(res), bodyBase64: Buffer.concat(sent).toString('base64'), chunks },
      replayed: !!replayed,
    };
    ring.push(entry);
    if (ring.length > ringSize) ring = ring.slice(ring.length - ringSize);
  };

  const control = (r: MockRequest): Plan => {
    switch (r.path) {
      case '/__mock/health':
        return jsonPlan(200, { ok: true, seq, cfg: { ...settings, nowMs: undefined } });
      case '/__mock/requests': {
        const since = Number.parseInt(r.search.get('since') || '0', 10);
        return jsonPlan(200, { seq, requests: ring.filter((x) => x.seq > since) });
      }
      case '/__mock/config':
        if (r.method === 'POST' && r.body && typeof r.body === 'object') Object.assign(settings, r.body);
        return jsonPlan(200, { ...settings, nowMs: undefined });
      case '/__mock/reset':
        ring = [];
        settings.forceError = null;
        return jsonPlan(200, { ok: true, seq });
      default:
        return jsonPlan(404, { type: 'error', error: { type: 'not_found_error', message: `mock: ${r.method} ${r.path}` } });
    }
  };

  const server: Server = createServer((req, res) => void handler(req, res));
  server.keepAliveTimeout = 65_000;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  let proxy: Server | null = null;
  let proxyUrl: string | null = null;
  if (opts.proxyPort !== undefined) {
    const dir = opts.certDir;
    if (!dir) throw new Error('mock upstream: proxyPort needs certDir (leaf.key, leaf.pem)');
    const ctx: SecureContext = createSecureContext({ key: readFileSync(join(dir, 'leaf.key')), cert: readFileSync(join(dir, 'leaf.pem')) });
    proxy = createServer((_req, res) => {
      res.writeHead(405, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'mock proxy: only CONNECT is supported' }));
    });
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      const host = String(req.url).split(':')[0] ?? '';
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      if (!ALLOWED_CONNECT_HOSTS.has(host)) {
        client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
        return;
      }
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head?.length) client.unshift(head);
      const tlsSocket = new TLSSocket(client, { isServer: true, secureContext: ctx });
      tlsSocket.on('error', () => {});
      client.on('error', () => {});
      server.emit('connection', tlsSocket);
    });
    await new Promise<void>((resolve) => proxy!.listen(opts.proxyPort, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proxyUrl,
    settings,
    requests: (since = 0) => ring.filter((x) => x.seq > since),
    setReplay: (entries) => book.replace(entries),
    reset: () => {
      ring = [];
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(
        [server, proxy].filter((s): s is Server => !!s).map((s) => new Promise<void>((r) => s.close(() => r()))),
      );
    },
  };
}
