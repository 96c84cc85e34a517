import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import type { AnomalyNotifier } from '../notify/notifier.js';
import type { AccountRepository } from '../storage/accounts.js';
import { dateString, effectiveOffsetHours, keys } from '../storage/keys.js';
import { liftConsoleStop } from './account-state.js';

/**
 * Claude Console daily quota and 400-block state (claudeConsoleAccountService checkQuotaUsage,
 * isAccountQuotaExceeded + _shouldResetQuota + resetDailyUsage, markConsoleAccountBlocked,
 * isAccountBlocked, removeAccountBlocked), as the scheduler and the Console relay run them on
 * /v1/messages. Writes are the legacy's, field for field — including what its updateAccount
 * silently drops (`status`, `errorMessage`, `quotaAutoStopped` are not among the fields it copies,
 * and writing `schedulable` blanks the four auto-stop markers): see QUIRKS "Console daily quota".
 */

export interface ConsoleStateDeps {
  redis: Redis;
  clock: Clock;
  accounts: AccountRepository;
  /** CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES (0: blocks are not marked and old ones are lifted). */
  blockedMinutes: number;
  log?: { error(obj: unknown, msg?: string): void };
  /** Account-anomaly webhooks (quota exceeded, 400 block), as the legacy sends them. */
  notify?: AnomalyNotifier;
}

type Raw = Record<string, string>;
const iso = (ms: number) => new Date(ms).toISOString();

/*
 * What the legacy's Console and CCR quota code share (the CCR relay's migrated/relay-ccr/ccr-quota.ts
 * uses these too); the rest of their logic differs (see there).
 */

/** `parseFloat(account.dailyQuota || '0')`, as both account services read the quota (NaN for junk). */
export const dailyQuotaOf = (a: Raw): number => Number.parseFloat(a['dailyQuota'] || '0');

/** redis.getDateStringInTimezone(): today's date in the configured zone. */
export const zoneToday = (clock: Clock): string => dateString(clock.now(), clock.timezoneOffsetHours);

/** Today's cost of an account (`account_usage:daily:<id>:<zone date>` `cost`, 0 when unset): getAccountUsageStats' `daily.cost`. */
export async function todaysCost(redis: Redis, clock: Clock, id: string): Promise<number> {
  return Number.parseFloat((await redis.hget(keys.accountUsageDaily(id, zoneToday(clock)), 'cost')) ?? '') || 0;
}

/**
 * The subset of updateAccount's field handling these paths use, in its assignment order:
 * isActive, schedulable (+ rateLimitAutoStopped/quotaAutoStopped/autoStoppedAt/stoppedReason
 * blanked), lastResetDate, quotaStoppedAt, then updatedAt. Mirrored to PostgreSQL like updateAccount.
 */
interface AccountUpdate {
  isActive?: boolean;
  schedulable?: boolean;
  lastResetDate?: string;
  quotaStoppedAt?: string;
}

export class ConsoleAccountState {
  constructor(private readonly d: ConsoleStateDeps) {}

  private get(id: string): Promise<Raw | null> {
    return this.d.accounts.get('claude-console', id);
  }

  private async update(id: string, u: AccountUpdate): Promise<void> {
    const f: Record<string, string> = {};
    if (u.isActive !== undefined) f['isActive'] = String(u.isActive);
    if (u.schedulable !== undefined) {
      f['schedulable'] = String(u.schedulable);
      f['rateLimitAutoStopped'] = '';
      f['quotaAutoStopped'] = '';
      f['autoStoppedAt'] = '';
      f['stoppedReason'] = '';
    }
    if (u.lastResetDate !== undefined) f['lastResetDate'] = u.lastResetDate;
    if (u.quotaStoppedAt !== undefined) f['quotaStoppedAt'] = u.quotaStoppedAt;
    f['updatedAt'] = iso(this.d.clock.now());
    await this.d.accounts.updateFields('claude-console', id, f, { mirror: true });
  }

  /**
   * checkQuotaUsage: stop the account once today's cost reaches dailyQuota. Never throws.
   * `known`: the hash as read earlier in this request; without a positive dailyQuota there (the
   * default) nothing is read — dailyQuota is only ever changed by an admin edit.
   */
  async checkQuotaUsage(id: string, known?: Raw): Promise<void> {
    if (known && !(dailyQuotaOf(known) > 0)) return;
    try {
      const cost = await todaysCost(this.d.redis, this.d.clock, id);
      const a = await this.get(id);
      if (!a) return;
      const quota = dailyQuotaOf(a);
      if (Number.isNaN(quota) || quota <= 0) return;
      if (a['isActive'] !== 'true' && a['quotaStoppedAt']) return;
      if (cost < quota) return;
      const key = keys.account('claude-console', id);
      if (await this.d.redis.hget(key, 'quotaStoppedAt')) return; // another request got there first
      // the legacy also reads `status` here to set quota_exceeded, which its updateAccount then drops
      await this.update(id, { isActive: false, quotaStoppedAt: iso(this.d.clock.now()), schedulable: false });
      const reason = `Daily quota exceeded: $${cost.toFixed(2)} / $${quota.toFixed(2)}`;
      this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Unknown Account', platform: 'claude-console', status: 'quota_exceeded', errorCode: 'CLAUDE_CONSOLE_QUOTA_EXCEEDED', reason });
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'console quota check failed');
    }
  }

  /** isAccountQuotaExceeded: stopped by quota, unless today's reset point has passed (then reset). `known` as in checkQuotaUsage. */
  async isQuotaExceeded(id: string, known?: Raw): Promise<boolean> {
    if (known && !(dailyQuotaOf(known) > 0)) return false;
    try {
      const a = await this.get(id);
      if (!a) return false;
      const quota = dailyQuotaOf(a);
      if (Number.isNaN(quota) || quota <= 0 || !a['quotaStoppedAt']) return false;
      if (this.shouldReset(a)) {
        await this.resetDailyUsage(id);
        return false;
      }
      return true;
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'console quota state check failed');
      return false;
    }
  }

  /**
   * _shouldResetQuota: not reset "today" yet and the zone-local time is at/after quotaResetTime
   * (default 00:00). The legacy's "today" here is the date of an instant shifted by the offset TWICE
   * (getDateStringInTimezone of getDateInTimezone(now)), while lastResetDate is written with one
   * shift: from 24:00 − offset local time on, every check resets again (QUIRKS).
   */
  private shouldReset(a: Raw): boolean {
    const shift = effectiveOffsetHours(this.d.clock.timezoneOffsetHours) * 3_600_000;
    const local = new Date(this.d.clock.now() + shift);
    if (a['lastResetDate'] === dateString(local.getTime(), this.d.clock.timezoneOffsetHours)) return false;
    const [h, m] = (a['quotaResetTime'] || '00:00').split(':').map((n) => Number.parseInt(n, 10));
    const hour = local.getUTCHours();
    const minute = local.getUTCMinutes();
    return hour > h! || (hour === h && minute >= m!);
  }

  /** resetDailyUsage: lastResetDate = today; a quota-stopped account (quota_exceeded / rate_limited) is re-enabled. */
  async resetDailyUsage(id: string): Promise<void> {
    try {
      const a = await this.get(id);
      if (!a) return;
      const u: AccountUpdate = { lastResetDate: zoneToday(this.d.clock) };
      if (a['quotaStoppedAt'] && a['isActive'] !== 'true' && (a['status'] === 'quota_exceeded' || a['status'] === 'rate_limited')) {
        u.isActive = true;
        u.quotaStoppedAt = '';
        if (a['quotaAutoStopped'] === 'true') u.schedulable = true;
        if (a['status'] === 'rate_limited') await this.d.redis.hdel(keys.account('claude-console', id), 'rateLimitedAt', 'rateLimitStatus', 'rateLimitAutoStopped');
      }
      await this.update(id, u);
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'console daily reset failed');
    }
  }

  /** markConsoleAccountBlocked (400 "account disabled"); with 0 minutes an existing block is lifted instead. */
  async markBlocked(id: string): Promise<void> {
    const a = await this.get(id);
    if (!a) throw new Error('Account not found');
    if (this.d.blockedMinutes <= 0) {
      if (a['blockedStatus'] === 'blocked') await this.removeBlocked(id).catch((err: unknown) => this.d.log?.error({ err, accountId: id }, 'console block removal failed'));
      return;
    }
    await this.d.redis.hset(keys.account('claude-console', id), {
      blockedAt: iso(this.d.clock.now()),
      blockedStatus: 'blocked',
      isActive: 'false',
      schedulable: 'false',
      status: 'account_blocked',
      errorMessage: '账户临时被禁用（400错误）',
      blockedAutoStopped: 'true',
    });
    const reason = `账户临时被禁用（400错误）。账户将在 ${this.d.blockedMinutes} 分钟后自动恢复。`;
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Console Account', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_BLOCKED', reason, timestamp: iso(this.d.clock.now()) });
  }

  /**
   * isAccountBlocked: true while the block is younger than the configured minutes; an expired one
   * is lifted. `known` (the listing row of this request) without a block skips the re-read.
   */
  async isBlocked(id: string, known?: Raw): Promise<boolean> {
    if (known && (known['blockedStatus'] !== 'blocked' || !known['blockedAt'])) return false;
    try {
      const a = await this.get(id);
      if (!a || a['blockedStatus'] !== 'blocked' || !a['blockedAt']) return false;
      if (this.d.blockedMinutes <= 0) {
        await this.removeBlocked(id);
        return false;
      }
      const minutes = (this.d.clock.now() - new Date(a['blockedAt']).getTime()) / 60_000;
      if (minutes >= this.d.blockedMinutes) {
        await this.removeBlocked(id);
        return false;
      }
      return true;
    } catch (err) {
      this.d.log?.error({ err, accountId: id }, 'console block check failed');
      return false;
    }
  }

  /** removeAccountBlocked. */
  async removeBlocked(id: string): Promise<void> {
    await liftConsoleStop(this.d.redis, id, { marks: ['blockedAt', 'blockedStatus'], stoppedStatus: 'account_blocked', autoStopField: 'blockedAutoStopped' });
  }
}
