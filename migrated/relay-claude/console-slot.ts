import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';

/**
 * Per-console-account concurrency slot (relay-claude.md §5.1 step 4): a lease member in
 * `concurrency:console_account:<id>` (score = expiry, 600 s; key PEXPIRE 630 s), taken in one
 * MULTI; over the limit → the member is removed again and the caller gets `null`.
 */
const LEASE_MS = 600_000;
const KEY_TTL_MS = 630_000;

export async function acquireConsoleSlot(redis: Redis, accountId: string, member: string, max: number, nowMs: number): Promise<boolean> {
  const key = keys.concurrencyConsoleAccount(accountId);
  const res = await redis.multi().zremrangebyscore(key, '-inf', nowMs).zadd(key, nowMs + LEASE_MS, member).pexpire(key, KEY_TTL_MS).zcard(key).exec();
  const count = Number(res?.[3]?.[1] ?? 0);
  if (count > max) {
    await releaseConsoleSlot(redis, accountId, member, nowMs);
    return false;
  }
  return true;
}

export async function releaseConsoleSlot(redis: Redis, accountId: string, member: string, nowMs: number): Promise<void> {
  const key = keys.concurrencyConsoleAccount(accountId);
  const res = await redis.multi().zrem(key, member).zremrangebyscore(key, '-inf', nowMs).zcard(key).exec();
  if (Number(res?.[2]?.[1] ?? 0) <= 0) await redis.del(key);
}
