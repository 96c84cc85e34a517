import type { Redis } from 'ioredis';
import { LuaScript } from './lua-script.js';

/**
 * Owner-checked distributed lock (concurrency-locks-queues.md §6): `SET key value NX PX ttl`,
 * released by compare-and-delete, interoperable with the legacy's token-refresh and account
 * recovery locks (`keys.tokenRefreshLock`, `keys.accountRecoveryLock`).
 */
const RELEASE = new LuaScript(
  'lockRelease',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  1,
);

export class DistributedLock {
  constructor(private readonly redis: Redis) {}

  /** True iff the lock was taken. Errors -> false (legacy setAccountLock). */
  async acquire(key: string, value: string, ttlMs: number): Promise<boolean> {
    try {
      return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
    } catch {
      return false;
    }
  }

  /** Delete only if we still own it. Errors -> false. */
  async release(key: string, value: string): Promise<boolean> {
    try {
      return Number(await RELEASE.run(this.redis, [key], [value])) === 1;
    } catch {
      return false;
    }
  }
}
