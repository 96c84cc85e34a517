import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigratedModuleFactory } from '../../migrated/module.js';
import { frozenClock } from '../../migrated/runtime/clock.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import type { Gateway } from '../create.js';
import { startTestGateway } from '../testing/gateway.js';
import { startOrigin, type Origin } from '../testing/origin.js';

let origin: Origin;
let redis: PrivateRedis;
let gw: Gateway;
let aborted: Promise<string>;
let onAbort: (reason: string) => void;
let builds = 0;

/** Records ctx and deps use: /ctx/:id answers ctx; /write sets a Redis key; /wait waits for the abort signal. */
const probeModule: MigratedModuleFactory = (deps) => {
  builds++;
  return {
    name: 'probe',
    async handle(req, res, ctx) {
      if (req.url?.startsWith('/wait')) {
        res.writeHead(200, ['Content-Type', 'text/event-stream']);
        res.write('data: start\n\n');
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        onAbort(String((ctx.signal.reason as Error)?.message));
        return;
      }
      if (req.url?.startsWith('/headers')) {
        res.writeHead(200, ['Content-Type', 'application/json']).end(JSON.stringify({ rawHeaders: req.rawHeaders, headers: req.headers }));
        return;
      }
      if (req.url?.startsWith('/write')) {
        await deps.redis.set('gw:test', String(deps.clock.now()));
        res.writeHead(204).end();
        return;
      }
      const out = JSON.stringify({ routeId: ctx.routeId, params: ctx.params, clientIp: ctx.clientIp, aborted: ctx.signal.aborted });
      res.writeHead(200, ['Content-Type', 'application/json']).end(out);
    },
  };
};

beforeAll(async () => {
  origin = await startOrigin();
  redis = await startPrivateRedis();
  aborted = new Promise((r) => (onAbort = r));
  gw = await startTestGateway(origin.url, {
    // The test client is the client itself (no trusted proxy), so the gateway sets X-Real-IP / X-Forwarded-*.
    env: { REDIS_PORT: String(redis.port), GATEWAY_TRUSTED_PROXIES: 'none' },
    deps: { clock: frozenClock(1_700_000_000_000) },
    modules: { probe: async () => probeModule },
    table: {
      routes: [{ id: 'probe', paths: ['/ctx/:id', '/wait', '/write', '/headers'], mode: 'migrated', module: 'probe' }],
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await origin?.close();
  await redis?.stop();
});

describe('migrated side', () => {
  it('hands route id, params and client IP to the module, built once', async () => {
    const a = (await (await fetch(`http://127.0.0.1:${gw.dataPort}/ctx/AbC`)).json()) as Record<string, unknown>;
    const b = (await (await fetch(`http://127.0.0.1:${gw.dataPort}/ctx/x%2Fy`)).json()) as Record<string, unknown>;
    expect(a).toEqual({ routeId: 'probe', params: { id: 'AbC' }, clientIp: '127.0.0.1', aborted: false });
    expect(b.params).toEqual({ id: 'x/y' });
    expect(builds).toBe(1);
  });

  it('creates the Redis client from REDIS_* on first use and passes deps overrides (clock)', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.dataPort}/write`);
    expect(res.status).toBe(204);
    const client = redis.client();
    client.on('error', () => {});
    expect(await client.get('gw:test')).toBe('1700000000000');
    const health = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/health`)).json()) as { redis: { status: string } };
    expect(health.redis.status).toBe('healthy');
  });

  it('shows the module the request headers the legacy gets through the bridge (X-Real-IP, X-Forwarded-*)', async () => {
    const headers = { 'X-Forwarded-For': '10.1.2.3', 'x-api-key': 'cr_abc', 'X-Custom': 'v' };
    const mod = (await (await fetch(`http://127.0.0.1:${gw.dataPort}/headers`, { headers })).json()) as { rawHeaders: string[] };
    const leg = (await (await fetch(`http://127.0.0.1:${gw.dataPort}/echo`, { method: 'POST', headers })).json()) as { rawHeaders: string[] };
    const view = (raw: string[]) =>
      raw
        .map((v, i) => (i % 2 === 0 ? v.toLowerCase() : v))
        .reduce<string[]>((acc, v, i, all) => (i % 2 === 0 && !['connection', 'content-length'].includes(v) ? [...acc, `${v}: ${all[i + 1]}`] : acc), []);
    expect(view(mod.rawHeaders)).toEqual(view(leg.rawHeaders));
    expect(view(mod.rawHeaders)).toContain('x-forwarded-for: 10.1.2.3, 127.0.0.1');
    expect(view(mod.rawHeaders).slice(-2)).toEqual(['x-real-ip: 127.0.0.1', 'x-forwarded-proto: http']);
  });

  it('fires the AbortSignal when the client disconnects mid-response', async () => {
    const req = request({ port: gw.dataPort, host: '127.0.0.1', path: '/wait' }, (res) => res.once('data', () => req.destroy()));
    req.on('error', () => {});
    req.end();
    await expect(aborted).resolves.toBe('client disconnected');
  });
});
