import type { Redis } from 'ioredis';
import type { AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';

type SweepLog = { info(obj: object, msg: string): void; error(obj: object, msg: string): void };

const HOUR_MS = 3_600_000;
/** claudeAccountService.cleanupTempErrorAccounts: TEMP_ERROR_RECOVERY_MINUTES. */
const TEMP_ERROR_RECOVERY_MS = 5 * 60_000;

/** Milliseconds since an ISO time (NaN when it does not parse, which no comparison passes). */
const since = (iso: string, nowMs: number) => nowMs - new Date(iso).getTime();

/**
 * The hourly error-account reset (src/services/claudeAccountService.js `cleanupErrorAccounts`): an official Claude
 * account (the listing merges PostgreSQL-only ones) in `status` 'error' whose `lastRefreshAt` is more than 24 h ago
 * gets `status` 'created' and an empty `errorMessage`, saved whole (every field, then the PostgreSQL upsert) from the
 * listing's copy. A failure stops the sweep and counts 0, as in the legacy.
 */
export async function resetErrorAccounts(accounts: AccountRepository, nowMs: number, log: SweepLog): Promise<number> {
  try {
    let reset = 0;
    for (const account of await accounts.list('claude')) {
      if (account['status'] !== 'error' || !account['lastRefreshAt']) continue;
      if (!(since(account['lastRefreshAt'], nowMs) > 24 * HOUR_MS)) continue;
      const updated = { ...account, status: 'created', errorMessage: '' };
      await accounts.save('claude', account.id!, updated);
      reset++;
    }
    return reset;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'failed to clean up error accounts');
    return 0;
  }
}

/**
 * The hourly temp-error recovery (claudeAccountService `cleanupTempErrorAccounts`): an official Claude account in
 * `status` 'temp_error' for more than 5 minutes (`tempErrorAt`) becomes 'active'; when the temp error had stopped its
 * scheduling (`tempErrorAutoStopped` 'true') it is schedulable again. The listing's copy, without `errorMessage`,
 * `tempErrorAt` and `tempErrorAutoStopped`, is saved whole; those three fields are then removed from the hash (HSET
 * does not remove them) and the account's 5xx counter is deleted. A failure stops the sweep and counts 0.
 */
export async function recoverTempErrorAccounts(accounts: AccountRepository, redis: Redis, nowMs: number, log: SweepLog): Promise<number> {
  try {
    let recovered = 0;
    for (const account of await accounts.list('claude')) {
      if (account['status'] !== 'temp_error' || !account['tempErrorAt']) continue;
      if (!(since(account['tempErrorAt'], nowMs) > TEMP_ERROR_RECOVERY_MS)) continue;
      const updated: Record<string, string> = { ...account, status: 'active' };
      if (updated['tempErrorAutoStopped'] === 'true') {
        updated['schedulable'] = 'true';
        delete updated['tempErrorAutoStopped'];
      }
      delete updated['errorMessage'];
      delete updated['tempErrorAt'];
      const id = account.id!;
      await accounts.save('claude', id, updated);
      await accounts.removeFields('claude', id, ['errorMessage', 'tempErrorAt', 'tempErrorAutoStopped']);
      try {
        await redis.del(keys.claudeAccount5xxErrors(id));
      } catch (err) {
        log.error({ accountId: id, err: (err as Error).message }, 'failed to clear 5xx errors');
      }
      recovered++;
      log.info({ accountId: id, name: account['name'] }, 'reset temp_error status');
    }
    return recovered;
  } catch (err) {
    log.error({ err: (err as Error).message }, 'failed to clean up temp_error accounts');
    return 0;
  }
}
