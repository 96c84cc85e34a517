import type { Redis } from 'ioredis';
import type { RelayServices } from '../relay-claude/relay-services.js';
import type { Clock } from '../runtime/clock.js';
import type { AnomalyNotifier } from '../notify/notifier.js';
import { dailyQuotaOf, todaysCost, zoneToday } from '../scheduler/console-quota.js';
import type { AccountHash, AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';

/**
 * CCR daily quota (ccrAccountService checkQuotaUsage, isAccountQuotaExceeded, resetDailyUsage),
 * where the CCR scheduler and relay run it on /v1/messages. Quota parsing, "today" and today's
 * cost are the Console's (scheduler/console-quota.ts); the rest is not the Console's logic:
 *
 * - the stop mark is a plain HMSET of `status: quota_exceeded`, `errorMessage: Daily quota
 *   exceeded: $used / $quota` (2 decimals) and `quotaStoppedAt` — no updateAccount, so
 *   `isActive` / `schedulable` stay and nothing is mirrored to PostgreSQL;
 * - "exceeded" is today's cost ≥ quota, read each time (not the stop mark);
 * - the daily reset happens only inside checkQuotaUsage, when `lastResetDate` is not today
 *   (`dailyUsage: '0'`, `lastResetDate`, `quotaStoppedAt: ''`), and never sets `status` back:
 *   an account stopped by its quota stays out of the CCR pool and sticky check (both want
 *   status active) until an admin resets it — as in the legacy.
 *
 * Accounts are read like getAccount (hash, PG fallback). Neither check throws (logged, false).
 */

export interface CcrQuotaDeps {
  redis: Redis;
  clock: Clock;
  accounts: AccountRepository;
  log?: { error(obj: unknown, msg?: string): void };
  /** The quota-exceeded webhook of checkQuotaUsage (isAccountQuotaExceeded sends none, as in the legacy). */
  notify?: AnomalyNotifier;
}

export class CcrQuota {
  constructor(private readonly d: CcrQuotaDeps) {}

  /**
   * checkQuotaUsage: a new day resets the account (false); otherwise today's cost ≥ dailyQuota
   * marks it stopped (again on every call, as the legacy does) and answers true.
   * `known`: the hash read earlier in this request; a dailyQuota ≤ 0 there (the default) costs no read.
   */
  async checkQuotaUsage(id: string, known?: AccountHash): Promise<boolean> {
    if (known && dailyQuotaOf(known) <= 0) return false;
    try {
      const a = await this.d.accounts.get('ccr', id);
      if (!a) return false;
      const quota = dailyQuotaOf(a);
      if (quota <= 0) return false; // a NaN quota goes on: it can reset, never exceed
      const today = zoneToday(this.d.clock);
      if (a['lastResetDate'] !== today) {
        await this.d.redis.hset(keys.account('ccr', id), { dailyUsage: '0', lastResetDate: today, quotaStoppedAt: '' });
        return false;
      }
      const used = await todaysCost(this.d.redis, this.d.clock, id);
      if (!(used >= quota)) return false;
      await this.markStopped(id, used, quota);
      const reason = `Daily quota exceeded: $${used.toFixed(2)} / $${quota.toFixed(2)}`;
      this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || id, platform: 'ccr', status: 'quota_exceeded', errorCode: 'QUOTA_EXCEEDED', reason, timestamp: new Date(this.d.clock.now()).toISOString() });
      return true;
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'ccr quota check failed');
      return false;
    }
  }

  /** isAccountQuotaExceeded: today's cost ≥ dailyQuota; the first time, the stop mark is written. `known` as above. */
  async isQuotaExceeded(id: string, known?: AccountHash): Promise<boolean> {
    if (known && !(dailyQuotaOf(known) > 0)) return false;
    try {
      const a = await this.d.accounts.get('ccr', id);
      if (!a) return false;
      const quota = dailyQuotaOf(a);
      if (quota <= 0) return false;
      const used = await todaysCost(this.d.redis, this.d.clock, id);
      const exceeded = used >= quota;
      if (exceeded && !a['quotaStoppedAt']) await this.markStopped(id, used, quota);
      return exceeded;
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'ccr quota state check failed');
      return false;
    }
  }

  private async markStopped(id: string, used: number, quota: number): Promise<void> {
    await this.d.redis.hset(keys.account('ccr', id), {
      status: 'quota_exceeded',
      errorMessage: `Daily quota exceeded: $${used.toFixed(2)} / $${quota.toFixed(2)}`,
      quotaStoppedAt: new Date(this.d.clock.now()).toISOString(),
    });
  }
}

/** The quota state over the relay's shared services. */
export const ccrQuotaOf = (s: RelayServices): CcrQuota => new CcrQuota({ redis: s.redis(), clock: s.deps.clock, accounts: s.accounts, log: s.deps.log, notify: s.notify });
