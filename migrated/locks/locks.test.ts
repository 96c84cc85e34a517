import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock, type FrozenClock } from '../runtime/clock.js';
import { ConcurrencyLeases, normalizeLeaseConfig } from './concurrency.js';
import { DistributedLock } from './distributed-lock.js';
import { RequestQueue } from './request-queue.js';
import { UserMessageQueue } from './user-message-queue.js';

/**
 * Interop: the legacy's scripts are driven here as the raw Redis commands they issue
 * (concurrency-locks-queues.md), interleaved with our EVALSHA scripts on the same keys.
 */
let server: PrivateRedis;
let redis: Redis;
let clock: FrozenClock;
const T0 = Date.parse('2026-11-26T11:52:01.000Z');
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());
beforeEach(async () => {
  await redis.flushdb();
  clock = frozenClock(T0);
});

/** The legacy's acquire, as raw commands: prune, ZADD expireAt, PEXPIRE, ZCARD. */
async function legacyAcquire(key: string, member: string, now: number, lease = 300): Promise<number> {
  await redis.zremrangebyscore(key, '-inf', now);
  await redis.zadd(key, now + lease * 1000, member);
  await redis.pexpire(key, Math.max((lease + 30) * 1000, 60000));
  return redis.zcard(key);
}
/** The legacy's release: ZREM, prune, DEL when empty. */
async function legacyRelease(key: string, member: string, now: number): Promise<number> {
  await redis.zrem(key, member);
  await redis.zremrangebyscore(key, '-inf', now);
  const c = await redis.zcard(key);
  if (c <= 0) await redis.del(key);
  return c;
}

describe('concurrency leases', () => {
  it('a lease the legacy took counts against our limit, and ours against the legacy', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    expect(await legacyAcquire('concurrency:k', 'legacy-req', T0)).toBe(1);
    expect(await leases.acquire({ apiKeyId: 'k' }, 'our-req')).toBe(2);
    expect(await redis.zscore('concurrency:k', 'our-req')).toBe(String(T0 + 300_000));
    expect(await redis.pttl('concurrency:k')).toBeGreaterThan(329_000);
    expect(await legacyAcquire('concurrency:k', 'legacy-2', T0)).toBe(3);
    expect(await legacyRelease('concurrency:k', 'our-req', T0)).toBe(2);
    expect(await leases.release({ apiKeyId: 'k' }, 'legacy-req')).toBe(1);
    expect(await leases.release({ apiKeyId: 'k' }, 'legacy-2')).toBe(0);
    expect(await redis.exists('concurrency:k')).toBe(0);
  });

  it('expired leases stop counting (crash of either side); renew never resurrects', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    await legacyAcquire('concurrency:k', 'crashed-legacy', T0);
    await leases.acquire({ apiKeyId: 'k' }, 'ours');
    clock.advance(300_000); // score <= now is pruned (inclusive)
    expect(await leases.count({ apiKeyId: 'k' })).toBe(0);
    expect(await leases.renew({ apiKeyId: 'k' }, 'ours')).toBe(0);
    expect(await redis.zcard('concurrency:k')).toBe(0);
  });

  it('renew moves a live lease and re-applies the TTL', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    await leases.acquire({ apiKeyId: 'k' }, 'r');
    clock.advance(100_000);
    expect(await leases.renew({ apiKeyId: 'k' }, 'r')).toBe(1);
    expect(Number(await redis.zscore('concurrency:k', 'r'))).toBe(T0 + 100_000 + 300_000);
  });

  it('console accounts: 600 s lease, 630 s key TTL; config normalisation as the legacy', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    expect(await leases.acquire({ consoleAccountId: 'acc' }, 'r')).toBe(1);
    expect(Number(await redis.zscore('concurrency:console_account:acc', 'r'))).toBe(T0 + 600_000);
    expect(await redis.pttl('concurrency:console_account:acc')).toBeGreaterThan(629_000);
    expect(normalizeLeaseConfig({ leaseSeconds: 5, cleanupGraceSeconds: -1 })).toEqual({ leaseSeconds: 30, cleanupGraceSeconds: 0 });
    expect(normalizeLeaseConfig({ leaseSeconds: Number.NaN })).toEqual({ leaseSeconds: 300, cleanupGraceSeconds: 30 });
    await expect(leases.acquire({ apiKeyId: 'k' }, '')).rejects.toThrow('requestId');
  });

  it('the sweep prunes and deletes empty lease keys but never queue counters', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    await legacyAcquire('concurrency:k', 'old', T0 - 400_000);
    await redis.set('concurrency:queue:k', '2');
    expect(await leases.cleanupKey('concurrency:k')).toBe(1);
    expect(await leases.cleanupKey('concurrency:queue:k')).toBe(0);
    expect(await redis.get('concurrency:queue:k')).toBe('2');
  });

  it('survives SCRIPT FLUSH and a Redis restart (EVALSHA reloads on NOSCRIPT)', async () => {
    const leases = new ConcurrencyLeases(redis, clock);
    await leases.acquire({ apiKeyId: 'k' }, 'a');
    await redis.script('FLUSH');
    expect(await leases.acquire({ apiKeyId: 'k' }, 'b')).toBe(2);
    await server.restart();
    const fresh = server.client();
    const again = new ConcurrencyLeases(fresh, clock);
    expect(await again.acquire({ apiKeyId: 'k' }, 'c')).toBe(1); // nothing persisted, script reloaded
  });
});

describe('request queue counters', () => {
  it('enter/leave with TTL, stats and wait lists, overload check', async () => {
    redis = server.client();
    const q = new RequestQueue(redis);
    expect(await q.enter('k', 10_000)).toBe(1);
    expect(await redis.ttl('concurrency:queue:k')).toBe(40);
    expect(await q.enter('k', 10_000)).toBe(2);
    expect(await q.leave('k')).toBe(1);
    expect(await q.leave('k')).toBe(0);
    expect(await redis.exists('concurrency:queue:k')).toBe(0);
    expect(await q.stat('k', 'entered')).toBe(1);
    expect(await redis.ttl('concurrency:queue:stats:k')).toBe(604800);
    for (let i = 0; i < 10; i++) await q.recordWait('k', 9000);
    expect(await redis.llen('concurrency:queue:wait_times:global')).toBe(10);
    for (let i = 0; i < 3; i++) await q.enter('k', 10_000);
    expect(await q.overloaded('k', 3, 10_000, 0.8)).toBe(true); // P90 9000 >= 8000
    expect(await q.overloaded('k', 10, 10_000, 0.8)).toBe(false); // queue not past half
  });
});

describe('user message queue', () => {
  it('one holder at a time, delay after release measured with Redis TIME, owner-checked release', async () => {
    redis = server.client();
    const umq = new UserMessageQueue(redis);
    expect(await umq.tryAcquire('acc', 'r1', 5000, 200)).toEqual({ acquired: true, waitMs: 0 });
    expect(await redis.get('user_msg_queue_lock:acc')).toBe('r1');
    expect(await umq.tryAcquire('acc', 'r2')).toEqual({ acquired: false, waitMs: -1 });
    expect(await umq.release('acc', 'r2')).toBe(false);
    expect(await umq.release('acc', 'r1')).toBe(true);
    expect(await redis.ttl('user_msg_queue_last:acc')).toBe(60);
    const next = await umq.tryAcquire('acc', 'r2', 5000, 10_000);
    expect(next.acquired).toBe(false);
    expect(next.waitMs).toBeGreaterThan(9000);
    // a lock the legacy holds (raw SET PX) blocks us too
    await redis.del('user_msg_queue_last:acc');
    await redis.set('user_msg_queue_lock:acc', 'legacy', 'PX', 5000);
    expect((await umq.tryAcquire('acc', 'r3')).waitMs).toBe(-1);
  });
});

describe('distributed lock', () => {
  it('NX with TTL, compare-and-delete release', async () => {
    redis = server.client();
    const lock = new DistributedLock(redis);
    expect(await lock.acquire('token_refresh_lock:claude:a', 'v1', 60_000)).toBe(true);
    expect(await lock.acquire('token_refresh_lock:claude:a', 'v2', 60_000)).toBe(false);
    expect(await lock.release('token_refresh_lock:claude:a', 'v2')).toBe(false);
    expect(await lock.release('token_refresh_lock:claude:a', 'v1')).toBe(true);
    expect(await redis.exists('token_refresh_lock:claude:a')).toBe(0);
  });
});
