import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { sweepExpiredConcurrency } from './concurrency-sweep.js';
import { startMaintenance } from './index.js';
import { sweepOrphanUserMessageLocks } from './user-message-locks.js';

/** The legacy's minute sweeps on a real Redis: what they delete, what they leave. */
let server: PrivateRedis;
let redis: Redis;
const logged: Array<{ level: string; msg: string; obj: object }> = [];
const log = {
  warn: (obj: object, msg: string) => void logged.push({ level: 'warn', msg, obj }),
  error: (obj: object, msg: string) => void logged.push({ level: 'error', msg, obj }),
  info: (obj: object, msg: string) => void logged.push({ level: 'info', msg, obj }),
};
const NOW = Date.parse('2026-11-27T06:00:00.000Z');

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
  logged.length = 0;
});

async function leases(): Promise<void> {
  await redis.zadd('concurrency:key-a', NOW - 1000, 'expired-1', NOW, 'expired-at-now', NOW + 60_000, 'live');
  await redis.zadd('concurrency:key-b', NOW - 5, 'expired-only');
  await redis.zadd('concurrency:console_account:c1', NOW + 1, 'live');
  await redis.set('concurrency:queue:key-a', '2', 'EX', 60);
  await redis.hset('concurrency:queue:stats:key-a', 'entered', '3');
  await redis.lpush('concurrency:queue:wait_times:key-a', '12');
  await redis.set('concurrency:odd', 'a string under the pattern');
}

it('concurrency: expired members go, empty sets are deleted, queue counters/stats/wait lists and other types stay', async () => {
  await leases();
  expect(await sweepExpiredConcurrency(redis, NOW, log)).toBe(1);
  expect(await redis.zrange('concurrency:key-a', 0, -1)).toEqual(['live']);
  expect(await redis.exists('concurrency:key-b')).toBe(0);
  expect(await redis.zrange('concurrency:console_account:c1', 0, -1)).toEqual(['live']);
  expect(await redis.get('concurrency:queue:key-a')).toBe('2');
  expect(await redis.hget('concurrency:queue:stats:key-a', 'entered')).toBe('3');
  expect(await redis.lrange('concurrency:queue:wait_times:key-a', 0, -1)).toEqual(['12']);
  // WRONGTYPE on the string: logged, skipped, the others still swept
  expect(await redis.get('concurrency:odd')).toBe('a string under the pattern');
  expect(logged.filter((l) => l.level === 'error').map((l) => (l.obj as { key: string }).key)).toEqual(['concurrency:odd']);
});

it('user message locks: a held lock without expiry is deleted, locks with a TTL and the last-completed stamps stay', async () => {
  await redis.set('user_msg_queue_lock:acc-orphan', 'req-1');
  await redis.set('user_msg_queue_lock:acc-held', 'req-2', 'PX', 5000);
  await redis.set('user_msg_queue_last:acc-orphan', String(NOW), 'EX', 60);
  expect(await sweepOrphanUserMessageLocks(redis, log)).toEqual(['acc-orphan']);
  expect(await redis.exists('user_msg_queue_lock:acc-orphan')).toBe(0);
  expect(await redis.get('user_msg_queue_lock:acc-held')).toBe('req-2');
  expect(await redis.exists('user_msg_queue_last:acc-orphan')).toBe(1);
  expect(logged.find((l) => l.level === 'warn')?.obj).toEqual({ accountId: 'acc-orphan', lockHolder: 'req-1' });
});

it('the minute pass: concurrency always, the lock sweep only while claude_relay_config enables the queue', async () => {
  await leases();
  await redis.set('user_msg_queue_lock:acc-orphan', 'req-1');
  const m = startMaintenance({ redis: () => redis, clock: frozenClock(NOW, 8), log, intervalMs: 3_600_000 });
  try {
    await m.runOnce();
    expect(await redis.exists('concurrency:key-b')).toBe(0);
    expect(await redis.exists('user_msg_queue_lock:acc-orphan')).toBe(1);
  } finally {
    m.stop();
  }
  await redis.set('claude_relay_config', JSON.stringify({ userMessageQueueEnabled: true }));
  // a new pass reads the config afresh (a new instance: the reader caches it for 60 s, as the legacy's)
  const on = startMaintenance({ redis: () => redis, clock: frozenClock(NOW, 8), log, intervalMs: 3_600_000 });
  try {
    await on.runOnce();
    expect(await redis.exists('user_msg_queue_lock:acc-orphan')).toBe(0);
  } finally {
    on.stop();
  }
});

it('the timer runs the pass every interval; stop() ends it', async () => {
  await redis.zadd('concurrency:key-b', NOW - 5, 'expired-only');
  const m = startMaintenance({ redis: () => redis, clock: frozenClock(NOW, 8), log, intervalMs: 30 });
  const deadline = Date.now() + 2000;
  while ((await redis.exists('concurrency:key-b')) === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(await redis.exists('concurrency:key-b')).toBe(0);
  m.stop();
  await redis.zadd('concurrency:key-b', NOW - 5, 'expired-only');
  await new Promise((r) => setTimeout(r, 120));
  expect(await redis.exists('concurrency:key-b')).toBe(1);
});
