import type { Redis } from 'ioredis';
import { ConcurrencyLeases } from '../locks/concurrency.js';
import { RequestQueue, type QueueStatField } from '../locks/request-queue.js';
import type { Clock } from '../runtime/clock.js';

/**
 * The per-API-key concurrency operations auth needs (concurrency-locks-queues.md §2–§3), as a
 * narrow interface so tests can inject failures. The production store delegates to
 * `migrated/locks/` (engineer B): the `concurrency:{keyId}` lease zset and the queue counters,
 * stats and wait-time lists, interoperable with the legacy's Lua scripts.
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
  queueStat(keyId: string, field: QueueStatField): Promise<number>;
  waitTimes(keyId: string): Promise<number[]>;
  recordWaitTime(keyId: string, ms: number): Promise<void>;
}

export function createLeaseStore(redis: Redis, clock: Clock): LeaseStore {
  const leases = new ConcurrencyLeases(redis, clock);
  const queue = new RequestQueue(redis);
  return {
    acquire: (keyId, requestId, leaseSeconds) => leases.acquire({ apiKeyId: keyId }, requestId, { leaseSeconds }),
    refresh: (keyId, requestId, leaseSeconds) => leases.renew({ apiKeyId: keyId }, requestId, { leaseSeconds }),
    release: (keyId, requestId) => leases.release({ apiKeyId: keyId }, requestId),
    queueIncr: (keyId, timeoutMs) => queue.enter(keyId, timeoutMs),
    queueDecr: (keyId) => queue.leave(keyId),
    queueCount: (keyId) => queue.count(keyId),
    queueStat: (keyId, field) => queue.stat(keyId, field),
    waitTimes: (keyId) => queue.waitTimes(keyId),
    recordWaitTime: (keyId, ms) => queue.recordWait(keyId, ms),
  };
}
