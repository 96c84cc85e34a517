import type { Redis } from 'ioredis';
import type { ConcurrencyLeases } from '../locks/concurrency.js';
import { LuaScript } from '../locks/lua-script.js';
import { keys } from '../storage/keys.js';

/**
 * Per-console-account concurrency slot (relay-claude.md §5.1 step 4): a lease member in
 * `concurrency:console_account:<id>` (score = expiry, 600 s; key PEXPIRE 630 s). The legacy takes it in one MULTI
 * (ZREMRANGEBYSCORE, ZADD, PEXPIRE, ZCARD) and, over the limit, releases it again (MULTI ZREM, ZREMRANGEBYSCORE,
 * ZCARD; DEL when empty). The same commands in the same order, each step as one script: one round trip each, and no
 * ioredis MULTI per request (a MULTI is an ioredis Pipeline object; making two per request cost ~0.5 ms of CPU and
 * kept the request alive until a full GC under load, see docs/claude-relay.md, session 8).
 */
const LEASE_MS = 600_000;
const KEY_TTL_MS = 630_000;

/** ZREM member, drop expired leases, DEL when empty (the legacy's release). `member`, `now`: Lua expressions. */
const releaseSteps = (member: string, now: string) => `redis.call('ZREM', KEYS[1], ${member})
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ${now})
if redis.call('ZCARD', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end`;

/** ARGV: now, lease expiry score, member, key TTL ms, max. 1 = taken, 0 = over the limit (released again). */
const ACQUIRE = new LuaScript(
  'consoleSlotAcquire',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[5]) then
${releaseSteps('ARGV[3]', 'ARGV[1]')}
return 0
end
return 1`,
  1,
);

/** ARGV: member, now. */
const RELEASE = new LuaScript('consoleSlotRelease', `${releaseSteps('ARGV[1]', 'ARGV[2]')}\nreturn 1`, 1);

export async function acquireConsoleSlot(redis: Redis, accountId: string, member: string, max: number, nowMs: number): Promise<boolean> {
  const taken = await ACQUIRE.run(redis, [keys.concurrencyConsoleAccount(accountId)], [nowMs, nowMs + LEASE_MS, member, KEY_TTL_MS, max]);
  return Number(taken) === 1;
}

export async function releaseConsoleSlot(redis: Redis, accountId: string, member: string, nowMs: number): Promise<void> {
  await RELEASE.run(redis, [keys.concurrencyConsoleAccount(accountId)], [member, nowMs]);
}

/** The legacy's refresh period for a streaming request's slot (claudeConsoleRelayService: every 5 minutes). */
export const CONSOLE_SLOT_RENEW_MS = 300_000;

/**
 * Keeps a streaming request's slot alive past its 600 s lease, as the legacy's stream relay does: every `everyMs`
 * the member's score is moved to now + 600 s and the key's expiry to 630 s (refreshConsoleAccountConcurrencyLease:
 * only while the member is still there; a lease that already expired is not brought back). Returns the stop
 * function, called when the stream ends. The timer does not keep the process alive.
 */
export function keepConsoleSlot(leases: ConcurrencyLeases, accountId: string, member: string, everyMs = CONSOLE_SLOT_RENEW_MS): () => void {
  const timer = setInterval(() => void leases.renew({ consoleAccountId: accountId }, member, { leaseSeconds: LEASE_MS / 1000 }), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
