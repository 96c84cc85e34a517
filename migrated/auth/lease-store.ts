import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';

/**
 * The per-API-key concurrency store auth needs (concurrency-locks-queues.md §2–§3):
 * leases in the sorted set `concurrency:{keyId}` (member = request id, score = expiry ms) and
 * the queue counters / stats / wait-time lists. Interoperable with the legacy's scripts, so a
 * key limited to N concurrent requests is limited across legacy + gateway together.
 *
 * NOTE for the lead: engineer B owns `migrated/locks/`; when it exports the same operations,
 * `createLeaseStore` should delegate there. The scripts below follow the contract word for word.
 */
export interface LeaseStore {
  /** Acquire (or move) the lease; returns the live member count after adding. */
  acquire(keyId: string, requestId: string, leaseSeconds: number): Promise<number>;
  /** Extend a live lease; 0 when it already expired (never resurrected). */
  refresh(keyId: string, requestId: string, leaseSeconds: number): Promise<number>;
  /** Remove the lease; returns the remaining live count (key deleted at 0). */
  release(keyId: string, requestId: string): Promise<number>;
  queueIncr(keyId: string, timeoutMs: number): Promise<number>;
  queueDecr(keyId: string): Promise<number>;
  queueCount(keyId: string): Promise<number>;
  queueStat(keyId: string, field: 'entered' | 'success' | 'timeout' | 'cancelled' | 'socket_changed' | 'rejected_overload'): Promise<number>;
  waitTimes(keyId: string): Promise<number[]>;
  recordWaitTime(keyId: string, ms: number): Promise<void>;
}

const CLEANUP_GRACE_SECONDS = 30;

const ACQUIRE = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return redis.call('ZCARD', KEYS[1])`;

const REFRESH = `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local exists = redis.call('ZSCORE', KEYS[1], ARGV[1])
if exists then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  local ttl = tonumber(ARGV[4])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  return 1
end
return 0`;

const RELEASE = `if ARGV[1] then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local c = redis.call('ZCARD', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return c`;

const QUEUE_INCR = `local c = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return c`;

const QUEUE_DECR = `local c = redis.call('DECR', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return c`;

const STAT = `local c = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return c`;

const WAIT = `redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

export function createLeaseStore(redis: Redis, clock: Clock): LeaseStore {
  const ttlMs = (leaseSeconds: number) => Math.max((leaseSeconds + CLEANUP_GRACE_SECONDS) * 1000, 60000);
  return {
    async acquire(keyId, requestId, leaseSeconds) {
      if (!requestId) throw new Error('requestId is required');
      const now = clock.now();
      const res = await redis.eval(ACQUIRE, 1, keys.concurrency(keyId), requestId, String(now + leaseSeconds * 1000), String(now), String(ttlMs(leaseSeconds)));
      return Number(res);
    },
    async refresh(keyId, requestId, leaseSeconds) {
      const now = clock.now();
      try {
        const res = await redis.eval(REFRESH, 1, keys.concurrency(keyId), requestId, String(now + leaseSeconds * 1000), String(now), String(ttlMs(leaseSeconds)));
        return Number(res);
      } catch {
        return 0;
      }
    },
    async release(keyId, requestId) {
      const res = await redis.eval(RELEASE, 1, keys.concurrency(keyId), requestId || '', String(clock.now()));
      return Number(res);
    },
    async queueIncr(keyId, timeoutMs) {
      return Number(await redis.eval(QUEUE_INCR, 1, keys.concurrencyQueue(keyId), String(Math.ceil(timeoutMs / 1000) + 30)));
    },
    async queueDecr(keyId) {
      return Number(await redis.eval(QUEUE_DECR, 1, keys.concurrencyQueue(keyId)));
    },
    async queueCount(keyId) {
      return Number.parseInt((await redis.get(keys.concurrencyQueue(keyId))) || '0', 10);
    },
    async queueStat(keyId, field) {
      try {
        return Number(await redis.eval(STAT, 1, keys.concurrencyQueueStats(keyId), field, '604800'));
      } catch {
        return 0;
      }
    },
    async waitTimes(keyId) {
      const list = await redis.lrange(keys.concurrencyQueueWaitTimes(keyId), 0, -1);
      return list.map((v) => Number.parseInt(v, 10)).filter((n) => !Number.isNaN(n));
    },
    async recordWaitTime(keyId, ms) {
      await redis.eval(WAIT, 1, keys.concurrencyQueueWaitTimes(keyId), String(ms), '499', '86400');
      await redis.eval(WAIT, 1, keys.concurrencyQueueWaitTimesGlobal(), String(ms), '1999', '86400');
    },
  };
}
