import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { ConcurrencyLeases } from '../locks/concurrency.js';
import { frozenClock } from '../runtime/clock.js';
import { acquireConsoleSlot, keepConsoleSlot, releaseConsoleSlot } from './console-slot.js';

/**
 * The console account's concurrency slot leaves what the legacy's two MULTIs leave: checked against the same
 * commands sent one by one on a second key.
 */
let server: PrivateRedis;
let redis: Redis;
const T0 = Date.parse('2026-11-27T04:10:00.000Z');
const KEY = 'concurrency:console_account:acc';
const REF = 'concurrency:console_account:ref';

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());
beforeEach(async () => {
  await redis.flushdb();
});

/** The legacy's acquire and release as the raw commands of its MULTIs. */
async function legacyAcquire(member: string, max: number, now: number): Promise<boolean> {
  const res = await redis.multi().zremrangebyscore(REF, '-inf', now).zadd(REF, now + 600_000, member).pexpire(REF, 630_000).zcard(REF).exec();
  if (Number(res![3]![1]) > max) {
    await legacyRelease(member, now);
    return false;
  }
  return true;
}
async function legacyRelease(member: string, now: number): Promise<void> {
  const res = await redis.multi().zrem(REF, member).zremrangebyscore(REF, '-inf', now).zcard(REF).exec();
  if (Number(res![2]![1]) <= 0) await redis.del(REF);
}

async function sameState(): Promise<void> {
  expect(await redis.zrange(KEY, 0, -1, 'WITHSCORES')).toEqual(await redis.zrange(REF, 0, -1, 'WITHSCORES'));
  expect(await redis.exists(KEY)).toBe(await redis.exists(REF));
  const [a, b] = [await redis.pttl(KEY), await redis.pttl(REF)];
  expect(Math.abs(a - b)).toBeLessThan(1_000);
}

describe('console account concurrency slot', () => {
  it('takes a lease (600 s score, 630 s key TTL), refuses over the limit and releases, as the legacy', async () => {
    const steps: Array<[string, 'acquire' | 'release', string, number]> = [
      ['expired lease is pruned, a is taken', 'acquire', 'a', T0],
      ['b is taken (limit 2)', 'acquire', 'b', T0 + 1],
      ['c is over the limit: removed again', 'acquire', 'c', T0 + 2],
      ['a released', 'release', 'a', T0 + 3],
      ['c now fits', 'acquire', 'c', T0 + 4],
      ['b released', 'release', 'b', T0 + 5],
      ['c released: the key is deleted', 'release', 'c', T0 + 6],
    ];
    await redis.zadd(KEY, T0 - 1, 'stale');
    await redis.zadd(REF, T0 - 1, 'stale');
    for (const [what, op, member, now] of steps) {
      if (op === 'acquire') expect(await acquireConsoleSlot(redis, 'acc', member, 2, now), what).toBe(await legacyAcquire(member, 2, now));
      else {
        await releaseConsoleSlot(redis, 'acc', member, now);
        await legacyRelease(member, now);
      }
      await sameState();
    }
    expect(await redis.exists(KEY)).toBe(0);
  });

  it('a refused lease on an otherwise empty key (limit below one) leaves no key', async () => {
    expect(await acquireConsoleSlot(redis, 'acc', 'only', 0, T0)).toBe(false);
    expect(await redis.exists(KEY)).toBe(0);
    expect(await acquireConsoleSlot(redis, 'acc', 'one', 1, T0)).toBe(true);
    expect(Number(await redis.zscore(KEY, 'one'))).toBe(T0 + 600_000);
    expect(await redis.pttl(KEY)).toBeGreaterThan(629_000);
  });
});

describe("a streaming request's slot renewal (the legacy's 5-minute refreshConsoleAccountConcurrencyLease)", () => {
  const waitFor = async (check: () => Promise<boolean>) => {
    const deadline = Date.now() + 2000;
    while (!(await check()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  };

  it('moves the live lease to now + 600 s and the key expiry to 630 s; an expired or released lease is not brought back; stop ends it', async () => {
    const clock = frozenClock(T0);
    expect(await acquireConsoleSlot(redis, 'acc', 'stream-1', 2, T0)).toBe(true);
    await redis.pexpire(KEY, 1_000);
    const stop = keepConsoleSlot(new ConcurrencyLeases(redis, clock), 'acc', 'stream-1', 20);
    try {
      clock.set(T0 + 300_000);
      await waitFor(async () => Number(await redis.zscore(KEY, 'stream-1')) === T0 + 900_000);
      expect(Number(await redis.zscore(KEY, 'stream-1'))).toBe(T0 + 900_000);
      expect(await redis.pttl(KEY)).toBeGreaterThan(620_000);
      // the stream ended elsewhere (released): the renewal does not re-add it
      await releaseConsoleSlot(redis, 'acc', 'stream-1', T0 + 300_001);
      clock.set(T0 + 600_000);
      await new Promise((r) => setTimeout(r, 80));
      expect(await redis.exists(KEY)).toBe(0);
    } finally {
      stop();
    }
    // stopped: a lease taken again under the same member is left alone
    expect(await acquireConsoleSlot(redis, 'acc', 'stream-1', 2, T0 + 600_000)).toBe(true);
    clock.set(T0 + 900_000);
    await new Promise((r) => setTimeout(r, 80));
    expect(Number(await redis.zscore(KEY, 'stream-1'))).toBe(T0 + 1_200_000);
  });
});
