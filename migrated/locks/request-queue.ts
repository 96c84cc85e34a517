import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';
import { LuaScript } from './lua-script.js';

/**
 * Counters of the concurrent-request queue (concurrency-locks-queues.md §3, §4):
 * waiter count `concurrency:queue:{id}`, stats hash, wait-time lists.
 */

const INCR = new LuaScript('queueIncr', `local c = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return c`, 1);
const DECR = new LuaScript('queueDecr', `local c = redis.call('DECR', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return c`, 1);
const STAT = new LuaScript('queueStat', `local c = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], 604800)
return c`, 1);
const WAIT = new LuaScript('queueWaitTime', `redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]))
redis.call('EXPIRE', KEYS[1], 86400)
return 1`, 1);

export type QueueStatField = 'entered' | 'success' | 'timeout' | 'cancelled' | 'socket_changed' | 'rejected_overload';

export class RequestQueue {
  constructor(private readonly redis: Redis) {}

  /** INCR + EXPIRE ceil(timeoutMs/1000)+30; returns the waiter count. */
  async enter(id: string, timeoutMs = 60000): Promise<number> {
    return Number(await INCR.run(this.redis, [keys.concurrencyQueue(id)], [Math.ceil(timeoutMs / 1000) + 30]));
  }

  /** DECR; DEL at <= 0; returns the remaining count. */
  async leave(id: string): Promise<number> {
    return Number(await DECR.run(this.redis, [keys.concurrencyQueue(id)], []));
  }

  async count(id: string): Promise<number> {
    return Number.parseInt((await this.redis.get(keys.concurrencyQueue(id))) || '0', 10);
  }

  /** HINCRBY stats field 1, EXPIRE 7 d. Errors -> 0. */
  async stat(id: string, field: QueueStatField): Promise<number> {
    try {
      return Number(await STAT.run(this.redis, [keys.concurrencyQueueStats(id)], [field]));
    } catch {
      return 0;
    }
  }

  /** Wait time into the key's list (<= 500) and the global list (<= 2000). */
  async recordWait(id: string, ms: number): Promise<void> {
    await WAIT.run(this.redis, [keys.concurrencyQueueWaitTimes(id)], [ms, 499]);
    await WAIT.run(this.redis, [keys.concurrencyQueueWaitTimesGlobal()], [ms, 1999]);
  }

  async waitTimes(id: string): Promise<number[]> {
    return (await this.redis.lrange(keys.concurrencyQueueWaitTimes(id), 0, -1)).map(Number);
  }

  /**
   * Overload health check (legacy shouldRejectDueToOverload): reject when the queue is more
   * than half of maxQueue, there are >= 10 wait samples and their nearest-rank P90 >=
   * timeoutMs × threshold.
   */
  async overloaded(id: string, maxQueue: number, timeoutMs: number, threshold = 0.8): Promise<boolean> {
    const q = await this.count(id);
    if (q === 0 || q <= Math.ceil(maxQueue * 0.5)) return false;
    const samples = await this.waitTimes(id);
    if (samples.length < 10) return false;
    const sorted = [...samples].sort((a, b) => a - b);
    const p90 = sorted[Math.ceil(0.9 * sorted.length) - 1]!;
    return p90 >= timeoutMs * threshold;
  }
}
