import { readFileSync, existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { loadConfig } from '../../../gateway/config/env.js';
import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { frozenClock, type FrozenClock } from '../../runtime/clock.js';
import type { MigratedDeps } from '../../runtime/deps.js';
import { scriptedIds, type ScriptedIds } from '../../runtime/ids.js';
import { legacyTracesDir } from '../../../test-support/paths.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../../test-support/redis-snapshot.js';

/**
 * Test helper: serve a migrated module on 127.0.0.1 the way the gateway does (keep-alive timeout
 * 605 s so Node writes `Keep-Alive: timeout=605`), with deps bound to a private Redis, a frozen
 * clock and scripted ids; and replay a recorded legacy exchange against it.
 */
export const LAB_ENV = {
  ENCRYPTION_KEY: 'lab-encryption-key-32chars-00000',
  JWT_SECRET: 'lab-jwt-secret-0123456789abcdef0123456789abcdef',
  API_KEY_PREFIX: 'cr_',
  LOG_LEVEL: 'silent',
};

export interface Harness {
  deps: MigratedDeps;
  clock: FrozenClock;
  ids: ScriptedIds;
  module: MigratedModule;
  port: number;
  close(): Promise<void>;
}

export async function serveModule(factory: MigratedModuleFactory, redis: Redis, atMs = Date.parse('2026-11-26T11:52:00.000Z')): Promise<Harness> {
  const clock = frozenClock(atMs, 8);
  const ids = scriptedIds(7);
  const deps: MigratedDeps = {
    config: loadConfig(LAB_ENV as unknown as NodeJS.ProcessEnv),
    redis,
    pg: null,
    clock,
    ids,
    log: pino({ level: 'silent' }),
  };
  const module = factory(deps);
  const server: Server = createServer({ keepAliveTimeout: 605_000 }, (req, res) => {
    const controller = new AbortController();
    void module.handle(req, res, { routeId: 'test', params: {}, signal: controller.signal, clientIp: '127.0.0.1' }).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(599).end(String(err));
    });
  });
  server.keepAliveTimeout = 605_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    deps,
    clock,
    ids,
    module,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface WireResponse {
  status: number;
  rawHeaders: string[];
  body: Buffer;
}

/** Send a request with headers in the given order; resolve with the raw response. */
export function send(port: number, method: string, path: string, headers: Array<[string, string]>, body?: Buffer | string): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) raw.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ status: res.statusCode ?? 0, rawHeaders: raw, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', reject);
    for (const [k, v] of headers) req.setHeader(k, v);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

export interface Trace {
  name: string;
  request: { method: string; url: string; headers: Record<string, string>; body: string | null };
  requestBody: Buffer | undefined;
  response: { status: number; rawHeaders: string[] };
  responseBody: Buffer;
  redisBefore: RedisSnapshot;
  redisAfter: RedisSnapshot;
  capturedAt: number;
}

export function loadTrace(name: string, dir = legacyTracesDir): Trace {
  const base = join(dir, name);
  const json = (f: string) => JSON.parse(readFileSync(join(base, f), 'utf8')) as unknown;
  const bodyFile = join(base, 'request.body');
  return {
    name,
    request: json('request.json') as Trace['request'],
    requestBody: existsSync(bodyFile) ? readFileSync(bodyFile) : undefined,
    response: json('response.json') as Trace['response'],
    responseBody: readFileSync(join(base, 'response.body')),
    redisBefore: json('redis.before.json') as RedisSnapshot,
    redisAfter: json('redis.after.json') as RedisSnapshot,
    capturedAt: Date.parse((json('meta.json') as { capturedAt: string }).capturedAt),
  };
}

/** The recorded header value (first match, case-insensitive). */
export function recordedHeader(trace: Trace, name: string): string | undefined {
  const line = trace.response.rawHeaders.find((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}: `));
  return line?.substring(name.length + 2);
}

/**
 * Replay `trace` against a module: Redis = the trace's before-state, clock = the response's own
 * `timestamp` when it has one (else capturedAt), request id = the recorded X-Request-ID.
 */
export async function replayTrace(trace: Trace, factory: MigratedModuleFactory, redis: Redis, opts: { atMs?: number } = {}) {
  await loadRedisSnapshot(redis, trace.redisBefore);
  let at = opts.atMs ?? trace.capturedAt;
  if (opts.atMs === undefined) {
    try {
      const parsed = JSON.parse(trace.responseBody.toString('utf8')) as { timestamp?: string };
      if (typeof parsed.timestamp === 'string') at = Date.parse(parsed.timestamp);
    } catch {
      /* not JSON */
    }
  }
  const h = await serveModule(factory, redis, at);
  const rid = recordedHeader(trace, 'X-Request-ID');
  if (rid) h.ids.queueRequestIds(rid);
  try {
    const url = new URL(trace.request.url);
    const headers = Object.entries(trace.request.headers).filter(([k]) => k.toLowerCase() !== 'host');
    headers.unshift(['Host', url.host]);
    const res = await send(h.port, trace.request.method, url.pathname + url.search, headers, trace.requestBody);
    return { res, harness: h };
  } finally {
    await h.close();
  }
}

/** Raw headers without Date (the only header whose value is wall-clock by nature). */
export function withoutDate(raw: string[]): string[] {
  return raw.map((h) => (h.toLowerCase().startsWith('date: ') ? 'Date: <date>' : h));
}
