import type { Redis } from 'ioredis';
import { LuaScript } from '../locks/lua-script.js';
import { keys } from '../storage/keys.js';
import { scanKeys } from '../storage/scan-keys.js';

/** ZREMRANGEBYSCORE -inf now; ZCARD; DEL when empty (src/app.js, the one-minute concurrency cleanup). */
const CLEAN = new LuaScript(
  'cleanExpiredConcurrency',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]))
local count = redis.call('ZCARD', KEYS[1])
if count <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0`,
  1,
);

/**
 * The legacy's minute-by-minute concurrency cleanup (src/app.js `startCleanupTasks`): every `concurrency:*` sorted
 * set (the API keys' and accounts' leases; `concurrency:queue:*` counters, stats and wait lists are skipped) loses
 * its members whose expiry score is at or before `nowMs`, and is deleted when none is left. The legacy lists the
 * keys with KEYS; this walks them with SCAN (the same names, without blocking Redis on a large keyspace). A key
 * that fails (another type under the name) is logged and skipped. Returns how many keys were deleted.
 */
export async function sweepExpiredConcurrency(redis: Redis, nowMs: number, log: { error(obj: object, msg: string): void }): Promise<number> {
  let deleted = 0;
  const queues = keys.concurrencyQueue('');
  for (const name of await scanKeys(redis, keys.concurrency('*'))) {
    if (name.startsWith(queues)) continue;
    try {
      if (Number(await CLEAN.run(redis, [name], [nowMs])) === 1) deleted++;
    } catch (err) {
      log.error({ key: name, err: (err as Error).message }, 'concurrency cleanup: key failed');
    }
  }
  return deleted;
}
