import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';
import { LuaScript } from './lua-script.js';

/**
 * Per-account user-message serialisation lock (concurrency-locks-queues.md §5). Time inside
 * the scripts is the Redis server's TIME, exactly like the legacy, so both implementations
 * agree on the delay since the last release.
 */

const ACQUIRE = new LuaScript(
  'userMsgAcquire',
  `if redis.call('GET', KEYS[1]) then return {0, -1} end
local last = redis.call('GET', KEYS[2])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local delay = tonumber(ARGV[3]) or 0
if last then
  local elapsed = ms - tonumber(last)
  if elapsed < delay then return {0, delay - elapsed} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, 0}`,
  2,
);

const RELEASE = new LuaScript(
  'userMsgRelease',
  `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], ms, 'EX', 60)
redis.call('DEL', KEYS[1])
return 1`,
  2,
);

export interface UserMessageLockResult {
  acquired: boolean;
  /** > 0: wait this long (delay since last release); -1: someone holds the lock. */
  waitMs: number;
  redisError?: boolean;
}

export class UserMessageQueue {
  constructor(private readonly redis: Redis) {}

  async tryAcquire(accountId: string, requestId: string, lockTtlMs = 5000, delayMs = 200): Promise<UserMessageLockResult> {
    try {
      const [ok, wait] = (await ACQUIRE.run(this.redis, [keys.userMsgQueueLock(accountId), keys.userMsgQueueLast(accountId)], [requestId, lockTtlMs, delayMs])) as [number, number];
      return { acquired: ok === 1, waitMs: Number(wait) };
    } catch {
      return { acquired: false, waitMs: -1, redisError: true };
    }
  }

  /** Release only if we still hold it; records the release time for the next delay. */
  async release(accountId: string, requestId: string): Promise<boolean> {
    return Number(await RELEASE.run(this.redis, [keys.userMsgQueueLock(accountId), keys.userMsgQueueLast(accountId)], [requestId])) === 1;
  }
}
