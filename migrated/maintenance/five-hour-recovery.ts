import type { Redis } from 'ioredis';
import { DistributedLock } from '../locks/distributed-lock.js';
import { sessionWindowAt, sessionWindowFrom } from '../relay-claude/account-marks.js';
import type { AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';

/** Recovery lock TTL (claudeAccountService.checkAndRecoverFiveHourStoppedAccounts: 5 s). */
const LOCK_TTL_MS = 5000;
/** The new window must have begun at least a minute ago. */
const WINDOW_GRACE_MS = 60_000;
/** Without a window end: 5 h 1 min after the stop (the legacy's 5.017 h). */
const STOPPED_HOURS = 5.017;
const WARNING_FIELDS = ['fiveHourWarningWindow', 'fiveHourWarningCount', 'fiveHourWarningLastSentAt'];

export interface FiveHourRecovered {
  id: string;
  name: string | undefined;
  oldWindow: { start: string | undefined; end: string } | null;
  newWindow: { start: string; end: string } | null;
}

export interface FiveHourResult {
  checked: number;
  recovered: number;
  accounts: FiveHourRecovered[];
}

/**
 * claudeAccountService.checkAndRecoverFiveHourStoppedAccounts (run by the 5-minute rate-limit cleanup): official
 * accounts that the 5-hour limit stopped (`fiveHourAutoStopped` 'true', `schedulable` 'false') are scheduled again
 * once a new session window has begun: a minute after `sessionWindowEnd` (the new window follows the old one), or,
 * without a window, 5 h 1 min after `fiveHourStoppedAt` (the new window starts at the current process-local hour).
 * Each account is taken under `lock:account:{id}:recovery` (SET NX PX 5000; skipped when another process holds it)
 * and re-read under it. The recovered hash loses the stop, its warning fields and `stoppedReason`, gets the new
 * window without its status, and is saved whole (PostgreSQL upsert included); the removed fields are then deleted
 * from Redis, except `stoppedReason`, which the legacy drops only from the saved copy (so it stays in Redis).
 * A failing account is logged and skipped; a failing listing throws.
 */
export async function recoverFiveHourStopped(
  redis: Redis,
  accounts: AccountRepository,
  nowMs: number,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
  lockValue: () => string,
): Promise<FiveHourResult> {
  const result: FiveHourResult = { checked: 0, recovered: 0, accounts: [] };
  const lock = new DistributedLock(redis);
  for (const listed of await accounts.list('claude')) {
    if (listed['fiveHourAutoStopped'] !== 'true' || listed['schedulable'] !== 'false') continue;
    result.checked++;
    const id = listed.id!;
    const lockKey = keys.accountRecoveryLock(id);
    const value = lockValue();
    try {
      if (!(await lock.acquire(lockKey, value, LOCK_TTL_MS))) continue;
      try {
        const latest = await accounts.get('claude', id);
        if (!latest || latest['fiveHourAutoStopped'] !== 'true' || latest['schedulable'] !== 'false') continue;
        let window: { start: string; end: string } | null = null;
        let recover = false;
        if (latest['sessionWindowEnd']) {
          if (nowMs > new Date(latest['sessionWindowEnd']).getTime() + WINDOW_GRACE_MS) {
            recover = true;
            // the next window follows the old one: from 1 ms after its end
            window = sessionWindowFrom(new Date(latest['sessionWindowEnd']).getTime() + 1);
          }
        } else if (latest['fiveHourStoppedAt']) {
          if ((nowMs - new Date(latest['fiveHourStoppedAt']).getTime()) / 3_600_000 > STOPPED_HOURS) {
            recover = true;
            window = sessionWindowAt(nowMs);
          }
        }
        if (!recover) continue;
        const updated: Record<string, string> = { ...latest, schedulable: 'true' };
        delete updated['fiveHourAutoStopped'];
        delete updated['fiveHourStoppedAt'];
        for (const f of WARNING_FIELDS) delete updated[f];
        try {
          await accounts.removeFields('claude', id, WARNING_FIELDS);
        } catch (err) {
          log.error({ accountId: id, err: (err as Error).message }, 'failed to clear five-hour warning metadata');
        }
        delete updated['stoppedReason'];
        const removed = ['fiveHourAutoStopped', 'fiveHourStoppedAt'];
        if (window) {
          updated['sessionWindowStart'] = window.start;
          updated['sessionWindowEnd'] = window.end;
          delete updated['sessionWindowStatus'];
          delete updated['sessionWindowStatusUpdatedAt'];
          removed.push('sessionWindowStatus', 'sessionWindowStatusUpdatedAt');
        }
        await accounts.save('claude', id, updated);
        try {
          await accounts.removeFields('claude', id, removed);
        } catch (err) {
          log.error({ accountId: id, err: (err as Error).message }, 'failed to remove five-hour fields');
        }
        result.recovered++;
        result.accounts.push({
          id: latest['id'] ?? id,
          name: latest['name'],
          oldWindow: latest['sessionWindowEnd'] ? { start: latest['sessionWindowStart'], end: latest['sessionWindowEnd'] } : null,
          newWindow: window,
        });
        log.info({ accountId: id, name: latest['name'] }, 'auto-resumed scheduling: 5-hour limit expired');
      } finally {
        await lock.release(lockKey, value);
      }
    } catch (err) {
      log.error({ accountId: id, err: (err as Error).message }, 'failed to check/recover a 5-hour stopped account');
    }
  }
  return result;
}
