import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';
import { scanKeys } from '../storage/scan-keys.js';

const PREFIX = keys.userMsgQueueLock('');

/**
 * The user-message queue's orphan-lock sweep (src/services/userMessageQueueService.js `_cleanupOrphanLocks`, every
 * 60 s while the queue is enabled): a `user_msg_queue_lock:<account>` that holds a value but has no expiry (PTTL -1:
 * every lock is set with PX, so it was left by something abnormal) is deleted, as the legacy's
 * `forceReleaseUserMessageLock` does (the locks found by SCAN ... COUNT 100 in at most 1000 calls, as
 * `scanUserMessageQueueLocks`). Returns the account ids released. Locks with a TTL are left to expire.
 */
export async function sweepOrphanUserMessageLocks(redis: Redis, log: { warn(obj: object, msg: string): void }): Promise<string[]> {
  const released: string[] = [];
  for (const name of await scanKeys(redis, `${PREFIX}*`, { maxCalls: 1000 })) {
    const accountId = name.slice(PREFIX.length);
    const [holder, ttl] = await Promise.all([redis.get(name), redis.pttl(name)]);
    if (holder && ttl === -1) {
      log.warn({ accountId, lockHolder: holder }, 'user message queue: cleaning up orphan lock without TTL');
      await redis.del(name);
      released.push(accountId);
    }
  }
  return released;
}
