import type { Redis } from 'ioredis';
import { scanKeys } from '../storage/scan-keys.js';

/** The families redis.cleanup looks at, in its order; `oauth:*` sessions get 10 minutes, the rest a day. */
const FAMILIES: ReadonlyArray<{ pattern: string; seconds: number }> = [
  { pattern: 'usage:daily:*', seconds: 86_400 },
  { pattern: 'ratelimit:*', seconds: 86_400 },
  { pattern: 'session:*', seconds: 86_400 },
  { pattern: 'sticky_session:*', seconds: 86_400 },
  { pattern: 'oauth:*', seconds: 600 },
];

const CHUNK = 1000;

/**
 * The hourly TTL repair (src/models/redis.js `cleanup`): every key of those families without an expiry (TTL -1)
 * gets one: its TTLs read 1000 keys per pipeline (keys found by SCAN ... COUNT 20000), then one pipeline of EXPIREs
 * per chunk. Keys that have an expiry are left alone. Note that `session:admin_credentials`, which the legacy's
 * login path can leave without a TTL, is given one too, as the legacy does. Errors end the pass (logged).
 * Returns how many keys got an expiry.
 */
export async function applyMissingTtls(redis: Redis, log: { error(obj: object, msg: string): void }): Promise<number> {
  let fixed = 0;
  try {
    for (const { pattern, seconds } of FAMILIES) {
      const names = await scanKeys(redis, pattern, { count: 20_000 });
      for (let i = 0; i < names.length; i += CHUNK) {
        const chunk = names.slice(i, i + CHUNK);
        const ttls = redis.pipeline();
        for (const name of chunk) ttls.ttl(name);
        const replies = (await ttls.exec()) ?? [];
        const expire = redis.pipeline();
        chunk.forEach((name, j) => {
          if (replies[j]?.[1] !== -1) return;
          expire.expire(name, seconds);
          fixed++;
        });
        if (expire.length > 0) await expire.exec();
      }
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'redis cleanup failed');
  }
  return fixed;
}
