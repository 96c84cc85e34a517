import type { Redis } from 'ioredis';

/**
 * Every key name matching `pattern`, walked with SCAN (never KEYS: Redis is not blocked on a large keyspace).
 * `count` is SCAN's COUNT (the legacy's own scans use 100, its `scanKeys` 20000); `maxCalls` bounds the walk as
 * the legacy's maintenance scans do (1000 calls). Names may repeat while Redis rehashes, as SCAN's do.
 */
export async function scanKeys(redis: Redis, pattern: string, opts: { count?: number; maxCalls?: number } = {}): Promise<string[]> {
  const count = String(opts.count ?? 100);
  const maxCalls = opts.maxCalls ?? Number.POSITIVE_INFINITY;
  const out: string[] = [];
  let cursor = '0';
  let calls = 0;
  do {
    const [next, batch] = (await redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', count)) as [string, string[]];
    cursor = next;
    out.push(...batch);
  } while (cursor !== '0' && ++calls < maxCalls);
  return out;
}
