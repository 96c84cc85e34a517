import type { Redis } from 'ioredis';

/**
 * HGETALL of every name in one pipeline, in order: the hash, or null when it is empty, absent or unreadable
 * (another type under the name), as the legacy's pipelined listings treat them.
 */
export async function readHashes(redis: Redis, names: readonly string[]): Promise<Array<Record<string, string> | null>> {
  if (names.length === 0) return [];
  const p = redis.pipeline();
  for (const name of names) p.hgetall(name);
  const replies = (await p.exec()) ?? [];
  return names.map((_, i) => {
    const [err, value] = replies[i] ?? [null, null];
    return !err && value && Object.keys(value as object).length > 0 ? (value as Record<string, string>) : null;
  });
}
