import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../gateway/config/env.js';
import { pricingFile } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { frozenClock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { UsageRecorder } from '../usage/record-usage.js';
import { backoffDelay, createRedisClient, isRedisUnavailable, RedisUnavailableError, withRedis } from './redis-client.js';

const log = pino({ level: 'silent' });
let server: PrivateRedis;
beforeAll(async () => {
  server = await startPrivateRedis();
});
afterAll(async () => server?.stop());

describe('redis client', () => {
  it('uses the legacy connection variables and bounded retries', async () => {
    const config = loadConfig({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(server.port), REDIS_DB: '2' });
    const client = createRedisClient(config, { log });
    try {
      await client.set('x', '1');
      expect(await client.get('x')).toBe('1');
      expect(client.options.db).toBe(2);
      expect(client.options.maxRetriesPerRequest).toBe(1);
      expect([1, 2, 3, 10].map((n) => backoffDelay(n))).toEqual([50, 100, 200, 2000]);
    } finally {
      client.disconnect();
    }
  });

  it('Redis gone: a command fails fast with a clear error; after a restart the client reconnects', async () => {
    const config = loadConfig({ REDIS_PORT: String(server.port) });
    const client = createRedisClient(config, { log, commandTimeoutMs: 500 });
    try {
      await client.ping();
      await server.stop();
      const t0 = Date.now();
      const err = await withRedis('usage read', () => client.get('x')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(isRedisUnavailable(err)).toBe(true);
      expect((err as Error).message).toMatch(/^Redis unavailable during usage read/);
      expect(Date.now() - t0).toBeLessThan(3000);
      server = await startPrivateRedisOnSamePort(server.port);
      await waitFor(async () => (await client.ping()) === 'PONG');
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
    }
  });

  it('usage recording during an outage writes nothing and returns null; the retry counts exactly once', async () => {
    const config = loadConfig({ REDIS_PORT: String(server.port) });
    const client = createRedisClient(config, { log, commandTimeoutMs: 500 });
    try {
      await client.flushdb();
      await client.hset('apikey:k', 'id', 'k', 'apiKey', 'h');
      const rec = new UsageRecorder({ redis: client, clock: frozenClock(Date.parse('2026-11-26T11:52:01Z')), ids: scriptedIds(1), log, pricing: new PricingTable(pricingFile).loadSync() });
      const input = { keyId: 'k', accountId: 'a', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 5, output_tokens: 6 }, recorder: 'basic' as const };
      await server.stop();
      const t0 = Date.now();
      expect(await rec.record(input)).toBeNull(); // logged, swallowed, like the legacy
      expect(Date.now() - t0).toBeLessThan(3000); // bounded: no request stalls on a dead Redis
      server = await startPrivateRedisOnSamePort(server.port);
      await waitFor(async () => (await client.ping().catch(() => '')) === 'PONG');
      expect(await client.dbsize()).toBe(0); // a fresh server (no persistence): nothing was queued for later
      await client.hset('apikey:k', 'id', 'k', 'apiKey', 'h');
      expect((await rec.record(input))?.totalTokens).toBe(11);
      expect(await client.hget('usage:k', 'totalRequests')).toBe('1');
      expect(await client.llen('usage:records:k')).toBe(1);
    } finally {
      client.disconnect();
    }
  });
});

async function waitFor(ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** startPrivateRedis picks a free port; for reconnect tests we need the old one back. */
async function startPrivateRedisOnSamePort(port: number): Promise<PrivateRedis> {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const { Redis } = await import('ioredis');
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  probe.on('error', () => undefined);
  await probe.connect().catch(() => undefined);
  await waitFor(async () => (await probe.ping()) === 'PONG');
  probe.disconnect();
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    client: () => new Redis({ port }),
    restart: async () => {
      throw new Error('not supported');
    },
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
