import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyForwardedHeaders, forwardedValues } from '../../legacy-bridge/forwarded-headers.js';
import type { MigratedDeps } from '../../migrated/runtime/deps.js';
import type { Side } from '../routing/schema.js';
import type { MigratedRunner } from './migrated-runner.js';
import type { CapturedResponse, TeeRequest } from './shadow-sink.js';

/**
 * Runs a copied request against the candidate side and captures the response as a client would see it.
 * Legacy: a plain HTTP request to LEGACY_URL. Migrated: the module runs in this process, behind a private
 * loopback HTTP server (so it gets a real IncomingMessage/ServerResponse); each run is matched to its
 * module and deps by a one-time token header that is removed before the module sees the request.
 */

const TOKEN_HEADER = 'x-gateway-candidate-token';
/** Candidate responses are captured up to this many bytes (then `truncated`). */
export const CANDIDATE_CAPTURE_BYTES = 8 * 1024 * 1024;

export interface CandidateRun {
  side: Side;
  module: string;
  routeId: string;
  params: Record<string, string>;
  request: TeeRequest;
  deps?: Partial<MigratedDeps> | undefined;
  signal?: AbortSignal | undefined;
}

export interface CandidateRunner {
  run(x: CandidateRun): Promise<CapturedResponse>;
  close(): Promise<void>;
}

interface Pending {
  run: CandidateRun;
}

function stripToken(req: IncomingMessage): string | undefined {
  const token = req.headers[TOKEN_HEADER];
  delete req.headers[TOKEN_HEADER];
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]!.toLowerCase() === TOKEN_HEADER) raw.splice(i, 2);
  return typeof token === 'string' ? token : undefined;
}

/**
 * Request headers for the candidate, in the client's order and casing. The body is sent whole, so a
 * `Transfer-Encoding` header becomes `Content-Length` in its place. `extra` pairs replace a header of the
 * same name in place, or are appended.
 */
function headersFrom(request: TeeRequest, extra: Array<[string, string]> = []): OutgoingHttpHeaders {
  const pairs: string[] = [];
  const raw = request.rawHeaders;
  const pending = new Map(extra.map(([n, v]) => [n.toLowerCase(), [n, v] as [string, string]]));
  const replaced = new Set<string>();
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === TOKEN_HEADER) continue;
    if (lower === 'content-length' || lower === 'transfer-encoding') {
      if (!hasLength) pairs.push(lower === 'content-length' ? name : 'Content-Length', String(request.body.length));
      hasLength = true;
      continue;
    }
    if (replaced.has(lower)) continue;
    const replacement = pending.get(lower);
    if (replacement) {
      pairs.push(name, replacement[1]);
      pending.delete(lower);
      replaced.add(lower);
      continue;
    }
    pairs.push(name, raw[i + 1]!);
  }
  if (!hasLength && request.body.length > 0) pairs.push('Content-Length', String(request.body.length));
  for (const [n, v] of pending.values()) pairs.push(n, v);
  // Node's request() keeps the order and casing of a flat [name, value, ...] array.
  return pairs as unknown as OutgoingHttpHeaders;
}

/** What the legacy bridge adds for a client at `clientIp` (legacy-bridge/forwarded-headers.ts); nothing for a trusted proxy. */
function legacyForwarded(request: TeeRequest): Array<[string, string]> {
  if (request.trustedPeer) return [];
  const prior: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() === 'x-forwarded-for') prior.push(request.rawHeaders[i + 1]!);
  }
  return Object.entries(forwardedValues(prior.length ? prior : undefined, request.clientIp));
}

function capture(target: URL, request: TeeRequest, headers: OutgoingHttpHeaders, signal?: AbortSignal): Promise<CapturedResponse> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const fail = (error: string, partial?: Partial<CapturedResponse>) => {
      if (settled) return;
      settled = true;
      const end = performance.now();
      resolve({ status: 0, rawHeaders: [], body: Buffer.alloc(0), chunks: [], truncated: false, ttfbMs: end - started, durationMs: end - started, ...partial, error });
    };
    const req = httpRequest({
      host: target.hostname,
      port: target.port,
      method: request.method,
      path: request.url,
      headers,
      agent: false,
      ...(signal ? { signal } : {}),
    }, (res) => {
      const headAt = performance.now();
      const chunks: Array<{ atMs: number; data: Buffer }> = [];
      let kept = 0;
      let truncated = false;
      res.on('data', (d: Buffer) => {
        const room = CANDIDATE_CAPTURE_BYTES - kept;
        if (room <= 0) return void (truncated = true);
        const part = d.length > room ? d.subarray(0, room) : d;
        if (part.length < d.length) truncated = true;
        chunks.push({ atMs: performance.now() - headAt, data: part });
        kept += part.length;
      });
      const base = () => ({
        status: res.statusCode ?? 0,
        rawHeaders: res.rawHeaders,
        body: Buffer.concat(chunks.map((c) => c.data)),
        chunks,
        truncated,
        ttfbMs: headAt - started,
        durationMs: performance.now() - started,
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve(base());
      });
      res.on('error', (err) => fail(err.message, base()));
      res.on('aborted', () => fail('candidate response aborted', base()));
    });
    req.on('error', (err) => fail(err.message));
    req.end(request.body);
  });
}

export function createCandidateRunner(legacyUrl: string, runner: MigratedRunner): CandidateRunner {
  const legacy = new URL(legacyUrl);
  const pending = new Map<string, Pending>();
  let seq = 0;
  let server: Server | null = null;
  let listening: Promise<URL> | null = null;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const token = stripToken(req);
    const p = token ? pending.get(token) : undefined;
    if (!p) {
      res.writeHead(404).end();
      return;
    }
    pending.delete(token!);
    if (!p.run.request.trustedPeer) applyForwardedHeaders(req, p.run.request.clientIp);
    runner
      .serve(req, res, { routeId: p.run.routeId, module: p.run.module, params: p.run.params, clientIp: p.run.request.clientIp }, p.run.deps)
      .catch(() => {});
  };

  const loopback = (): Promise<URL> => {
    listening ??= new Promise((resolve, reject) => {
      server = createServer(onRequest);
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(new URL(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`)));
    });
    return listening;
  };

  return {
    async run(x) {
      if (x.side === 'legacy') return capture(legacy, x.request, headersFrom(x.request, legacyForwarded(x.request)), x.signal);
      const url = await loopback();
      const token = `${process.pid}-${++seq}-${Math.floor(performance.now() * 1000)}`;
      pending.set(token, { run: x });
      try {
        return await capture(url, x.request, headersFrom(x.request, [[TOKEN_HEADER, token]]), x.signal);
      } finally {
        pending.delete(token);
      }
    },
    async close() {
      const s = server as Server | null;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
