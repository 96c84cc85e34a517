import { createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigratedModuleFactory } from '../../migrated/module.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { freePort } from '../../test-support/free-port.js';
import { loadConfig } from '../config/env.js';
import type { Gateway } from '../create.js';
import { startTestGateway } from '../testing/gateway.js';
import { startOrigin, type Origin } from '../testing/origin.js';
import { createMigratedRunner, POSTGRES_CONNECT_TIMEOUT_S } from './migrated-runner.js';

/**
 * The runner's own store clients fail fast when their server is gone: a request gets the module's error
 * answer (here the runner's 500) instead of waiting on ioredis' default 20 reconnect attempts, and a
 * PostgreSQL server that accepts but never answers fails the query after POSTGRES_CONNECT_TIMEOUT_S.
 */

const redisModule: MigratedModuleFactory = (deps) => ({
  name: 'redis-get',
  async handle(_req, res) {
    const v = await deps.redis.get('gw:stores');
    const out = JSON.stringify({ value: v });
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', String(out.length)]).end(out);
  },
});

describe('migrated runner store clients', () => {
  let origin: Origin;
  let redis: PrivateRedis;
  let gw: Gateway;

  beforeAll(async () => {
    origin = await startOrigin();
    redis = await startPrivateRedis();
    gw = await startTestGateway(origin.url, {
      env: { REDIS_PORT: String(redis.port) },
      modules: { 'redis-get': async () => redisModule },
      table: { routes: [{ id: 'r', paths: ['/r'], mode: 'migrated', module: 'redis-get' }] },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await redis?.stop();
    await origin?.close();
  });

  it('Redis gone: the request is answered with an error at once', async () => {
    await redis.client().set('gw:stores', 'one');
    expect(await (await fetch(`http://127.0.0.1:${gw.dataPort}/r`)).json()).toEqual({ value: 'one' });
    await redis.stop();
    // With ioredis defaults (20 retries per command) this waits for many seconds; the test would time out.
    const down = await fetch(`http://127.0.0.1:${gw.dataPort}/r`, { signal: AbortSignal.timeout(4000) });
    expect(down.status).toBe(500);
    expect(await down.json()).toMatchObject({ error: 'Internal Server Error', message: 'Something went wrong' });
  });

  it(`PostgreSQL accepting but silent: the query fails after connect_timeout (${POSTGRES_CONNECT_TIMEOUT_S} s), not postgres.js' 30 s`, async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    const config = loadConfig({ POSTGRES_ENABLED: 'true', POSTGRES_PORT: String(port), REDIS_PORT: String(await freePort()), LOG_LEVEL: 'silent' });
    const runner = createMigratedRunner(config, {}, pino({ level: 'silent' }), Date.now);
    try {
      const pg = runner.deps().pg!;
      const started = performance.now();
      await expect(pg`select 1`).rejects.toThrow(/CONNECT_TIMEOUT|timeout/i);
      expect(performance.now() - started).toBeLessThan(POSTGRES_CONNECT_TIMEOUT_S * 1000 + 2000);
    } finally {
      await runner.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  }, 10_000);
});

describe('the runner and the account name index', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('its own Redis gets an index on a connection of its own; a deps set with another Redis gets none; close() ends it', async () => {
    const config = loadConfig({ REDIS_PORT: String(redis.port), LOG_LEVEL: 'silent' });
    const seen: Array<unknown> = [];
    const probe: MigratedModuleFactory = (deps) => {
      seen.push(deps.accountNames);
      return { name: 'probe', handle: async () => undefined };
    };
    const runner = createMigratedRunner(config, {}, pino({ level: 'silent' }), Date.now, async () => probe);
    const admin = redis.client();
    const names = async () => String(await admin.call('CLIENT', 'LIST')).includes('name=gateway-account-names');
    try {
      const index = runner.deps().accountNames as { tracking: boolean } | null;
      expect(index).not.toBeNull();
      const deadline = Date.now() + 3000;
      while (!index!.tracking && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(index!.tracking).toBe(true);
      expect(await names()).toBe(true);
      await runner.module('probe');
      await runner.module('probe', { redis: redis.client() });
      await runner.module('probe', { webhooks: false });
      expect(seen).toEqual([index, null, index]);
    } finally {
      await runner.close();
    }
    const deadline = Date.now() + 2000;
    while ((await names()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(await names()).toBe(false);
  });
});

describe('the gateway with maintenance on', () => {
  it("sweeps the migrated side's Redis on its interval (expired leases), and stops with the gateway", async () => {
    const redis = await startPrivateRedis();
    const origin = await startOrigin();
    const client = redis.client();
    try {
      await client.zadd('concurrency:maint-key', Date.now() - 1000, 'expired');
      const gw = await startTestGateway(origin.url, { env: { REDIS_PORT: String(redis.port) }, maintenance: { intervalMs: 30 } });
      try {
        const deadline = Date.now() + 3000;
        while ((await client.exists('concurrency:maint-key')) === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        expect(await client.exists('concurrency:maint-key')).toBe(0);
      } finally {
        await gw.close();
      }
      await client.zadd('concurrency:maint-key', Date.now() - 1000, 'expired');
      await new Promise((r) => setTimeout(r, 150));
      expect(await client.exists('concurrency:maint-key')).toBe(1);
    } finally {
      await redis.stop();
      await origin.close();
    }
  });
});
