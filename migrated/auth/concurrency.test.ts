import { beforeEach, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';
import { createApiKeyAuthenticator, type ApiKeyAuthenticator } from './authenticate-api-key.js';
import { fakeRequest, storeKey, testDeps, suiteRedis } from './auth-test-kit.test-helper.js';
import { sendAuthRejection } from './send.js';
import type { LeaseStore } from './lease-store.js';

const redisOf = suiteRedis();
let redis: Redis;
beforeEach(() => {
  redis = redisOf();
});

/**
 * A server whose handler authenticates, then holds the response open until `hold` resolves
 * (or the client goes away). Mirrors a relay in flight.
 */
async function holdingServer(auth: ApiKeyAuthenticator, hold: () => Promise<void>) {
  const srv: Server = createServer(async (req, res) => {
    const r = await auth.authenticate(req, { res });
    if (!r.ok) {
      if (r.abandoned) return;
      sendAuthRejection(req, res, r, { requestId: 'rid' });
      return;
    }
    await hold();
    res.writeHead(200, ['Content-Type', 'text/plain', ...r.responseHeaders.flat()]);
    res.end('done');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { srv, port: (srv.address() as AddressInfo).port };
}

function get(port: number, key: string): { done: Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }>; abort: () => void } {
  let abort = () => {};
  const done = new Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/models', headers: { 'x-api-key': key }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    abort = () => req.destroy();
    req.end();
  });
  return { done, abort };
}

const live = async (id: string) => redis.zcard(keys.concurrency(id));
const until = async (cond: () => Promise<boolean>) => {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('concurrency leases (interoperable zset) and release on every exit path', () => {
  it('second request over the limit gets 429 + Retry-After: 1; the lease is released when the response ends', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { concurrencyLimit: '1' });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const { srv, port } = await holdingServer(auth, () => gate);
    try {
      const first = get(port, k.raw);
      await until(async () => (await live(k.id)) === 1);
      const second = await get(port, k.raw).done;
      expect(second.status).toBe(429);
      expect(second.headers['retry-after']).toBe('1');
      expect(JSON.parse(second.body)).toEqual({
        error: 'Concurrency limit exceeded',
        message: 'Too many concurrent requests. Limit: 1 concurrent requests',
        currentConcurrency: 1,
        concurrencyLimit: 1,
      });
      expect(await live(k.id)).toBe(1);
      open();
      expect((await first.done).status).toBe(200);
      await until(async () => (await redis.exists(keys.concurrency(k.id))) === 0);
      expect(await redis.exists(keys.concurrency(k.id))).toBe(0);
    } finally {
      srv.close();
    }
  });

  it('client disconnect mid-request releases the lease (the legacy leaks here)', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { concurrencyLimit: '2' });
    const { srv, port } = await holdingServer(auth, () => new Promise(() => {}));
    try {
      const c = get(port, k.raw);
      c.done.catch(() => {});
      await until(async () => (await live(k.id)) === 1);
      c.abort();
      await until(async () => (await redis.exists(keys.concurrency(k.id))) === 0);
      expect(await redis.exists(keys.concurrency(k.id))).toBe(0);
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });

  it('lease written by the legacy counts: a foreign live member fills the slot; expired members do not', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const k = await storeKey(redis, { concurrencyLimit: '1' });
    await redis.zadd(keys.concurrency(k.id), deps.clock.now() + 60_000, 'legacy-request');
    const r = await auth.authenticate(fakeRequest('/api/v1/models', { 'x-api-key': k.raw }));
    expect(r.ok).toBe(false);
    await redis.zadd(keys.concurrency(k.id), deps.clock.now() - 1, 'legacy-request');
    const ok = await auth.authenticate(fakeRequest('/api/v1/models', { 'x-api-key': k.raw }));
    expect(ok.ok).toBe(true);
    expect(await redis.zscore(keys.concurrency(k.id), '00000000-0000-4000-8000-000000000002')).toBe(String(deps.clock.now() + 300_000));
    expect(await redis.pttl(keys.concurrency(k.id))).toBeGreaterThan(329_000);
    if (ok.ok) await ok.release();
    expect(await redis.exists(keys.concurrency(k.id))).toBe(0);
  });

  it('a rate-limit rejection after the lease was taken releases it', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { concurrencyLimit: '1', rateLimitWindow: '1', rateLimitRequests: '1' });
    const first = await auth.authenticate(fakeRequest('/api/v1/models', { 'x-api-key': k.raw }));
    if (first.ok) await first.release();
    const second = await auth.authenticate(fakeRequest('/api/v1/models', { 'x-api-key': k.raw }));
    expect(second.ok).toBe(false);
    expect(await redis.exists(keys.concurrency(k.id))).toBe(0);
  });

  it('queue: a waiting request gets the slot when it frees, with Connection: close; timeout → 429 Queue timeout', async () => {
    await redis.set(keys.claudeRelayConfig(), JSON.stringify({ concurrentRequestQueueEnabled: true, concurrentRequestQueueTimeoutMs: 1500 }));
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { concurrencyLimit: '1' });
    let open!: () => void;
    let gate = new Promise<void>((r) => (open = r));
    const { srv, port } = await holdingServer(auth, () => gate);
    try {
      const first = get(port, k.raw);
      await until(async () => (await live(k.id)) === 1);
      const second = get(port, k.raw);
      await until(async () => (await redis.get(keys.concurrencyQueue(k.id))) === '1');
      const release = open;
      gate = Promise.resolve();
      release();
      expect((await first.done).status).toBe(200);
      const s = await second.done;
      expect(s.status).toBe(200);
      expect(s.headers.connection).toBe('close');
      expect(await redis.hget(keys.concurrencyQueueStats(k.id), 'success')).toBe('1');
      expect(await redis.exists(keys.concurrencyQueue(k.id))).toBe(0);

      let open2!: () => void;
      gate = new Promise<void>((r) => (open2 = r));
      const holder = get(port, k.raw);
      await until(async () => (await live(k.id)) === 1);
      const waited = await get(port, k.raw).done;
      expect(waited.status).toBe(429);
      expect(waited.headers['retry-after']).toBe('5');
      expect(waited.headers.connection).toBe('close');
      const body = JSON.parse(waited.body) as Record<string, unknown>;
      expect(body.error).toBe('Queue timeout');
      expect(Object.keys(body)).toEqual(['error', 'message', 'currentConcurrency', 'concurrencyLimit', 'maxQueueSize', 'queueTimeoutMs', 'waitTimeMs', 'retryAfterSeconds']);
      expect(body.maxQueueSize).toBe(3);
      open2();
      await holder.done;
    } finally {
      srv.close();
    }
  });

  it('an exception after the lease was taken → 500 Authentication error and the lease released', async () => {
    const deps = testDeps(redis);
    const k = await storeKey(redis, { concurrencyLimit: '3', rateLimitWindow: '1', rateLimitRequests: '5' });
    const released: string[] = [];
    const leases: LeaseStore = {
      acquire: async () => 1,
      refresh: async () => 1,
      release: async (_id, rid) => {
        released.push(rid);
        return 0;
      },
      queueIncr: async () => 0,
      queueDecr: async () => 0,
      queueCount: async () => 0,
      queueStat: async () => 0,
      waitTimes: async () => [],
      recordWaitTime: async () => {},
    };
    const auth = createApiKeyAuthenticator(deps, { leases });
    await redis.set(keys.rateLimitWindowStart(k.id), 'x');
    await redis.hset(keys.rateLimitRequests(k.id), 'wrong', 'type');
    const r = await auth.authenticate(fakeRequest('/api/v1/models', { 'x-api-key': k.raw }));
    expect(r).toEqual({ ok: false, status: 500, headers: [], body: { error: 'Authentication error', message: 'Internal server error during authentication' } });
    expect(released).toHaveLength(1);
  });
});
