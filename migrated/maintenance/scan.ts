import type { Redis } from 'ioredis';

/**
 * The key names matching `pattern`, as the legacy's maintenance scans walk them (src/models/redis.js
 * `scanUserMessageQueueLocks`, `clearAllConcurrencyQueues`): SCAN ... COUNT 100, at most 1000 calls.
 */
export async function scanNames(redis: Redis, pattern: string, maxCalls = 1000): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  let calls = 0;
  do {
    const [next, batch] = (await redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', '100')) as [string, string[]];
    cursor = next;
    out.push(...batch);
  } while (cursor !== '0' && ++calls < maxCalls);
  return out;
}
