import type { Redis } from 'ioredis';
import { officialRateLimited, removeOfficialRateLimit, consoleRateLimited } from '../scheduler/account-state.js';
import type { AccountHash, AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';
import { readHashes } from '../storage/read-hashes.js';
import { scanKeys } from '../storage/scan-keys.js';
import { recoverFiveHourStopped } from './five-hour-recovery.js';

type SweepLog = { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };

/** One account the pass found limited no longer, as the legacy's clearedAccounts entries (its field order). */
export interface ClearedAccount {
  platform: 'Claude' | 'Claude Console';
  accountId: string;
  accountName: string | undefined;
  previousStatus: 'rate_limited' | '5hour_limited';
  currentStatus: 'active';
  windowInfo?: { start: string; end: string } | null;
}

export interface PlatformTally {
  checked: number;
  cleared: number;
  errors: number;
}

export interface RateLimitCleanupResult {
  claude: PlatformTally;
  claudeConsole: PlatformTally;
  cleared: ClearedAccount[];
}

export interface RateLimitCleanupDeps {
  redis: Redis;
  accounts: AccountRepository;
  nowMs: number;
  log: SweepLog;
  /** The recovery lock's owner value (the legacy's `${Date.now()}_${Math.random()}`). */
  lockValue: () => string;
}

const tally = (): PlatformTally => ({ checked: 0, cleared: 0, errors: 0 });

/**
 * cleanupClaudeAccounts: every official account (the listing merges PostgreSQL-only ones) that is flagged limited,
 * has a `rateLimitedAt`, or was stopped by a limit (`rateLimitAutoStopped` with an end or unschedulable) is checked
 * the way the scheduler checks it (an expired limit is cleared on the way); one no longer limited is reported, and a
 * leftover auto-stop without the flag is removed. Then the 5-hour stops (five-hour-recovery.ts).
 */
async function officialAccounts(d: RateLimitCleanupDeps, t: PlatformTally, cleared: ClearedAccount[]): Promise<void> {
  try {
    for (const a of await d.accounts.list('claude')) {
      const limited = a['rateLimitStatus'] === 'limited';
      const autoStopped = a['rateLimitAutoStopped'] === 'true';
      const stopToLift = autoStopped && (!!a['rateLimitEndAt'] || a['schedulable'] === 'false');
      if (!limited && !a['rateLimitedAt'] && !stopToLift) continue;
      t.checked++;
      const id = a.id!;
      try {
        if (await officialRateLimited(d.redis, d.accounts, id, d.nowMs)) continue;
        if (!limited && autoStopped) await removeOfficialRateLimit(d.redis, d.accounts, id);
        t.cleared++;
        d.log.info({ accountId: id, name: a['name'] }, 'auto-cleared expired rate limit for a Claude account');
        cleared.push({ platform: 'Claude', accountId: id, accountName: a['name'], previousStatus: 'rate_limited', currentStatus: 'active' });
      } catch (err) {
        t.errors++;
        d.log.warn({ accountId: id, err: (err as Error).message }, 'rate limit cleanup: account failed');
      }
    }
    try {
      const five = await recoverFiveHourStopped(d.redis, d.accounts, d.nowMs, d.log, d.lockValue);
      if (five.recovered > 0) {
        for (const a of five.accounts) {
          cleared.push({ platform: 'Claude', accountId: a.id, accountName: a.name, previousStatus: '5hour_limited', currentStatus: 'active', windowInfo: a.newWindow });
        }
        t.checked += five.checked;
        t.cleared += five.recovered;
      }
    } catch (err) {
      t.errors++;
      d.log.error({ err: (err as Error).message }, 'failed to check and recover 5-hour stopped Claude accounts');
    }
  } catch (err) {
    t.errors++;
    d.log.error({ err: (err as Error).message }, 'failed to clean up Claude accounts');
  }
}

/**
 * claudeConsoleAccountService.getAllAccounts as this pass uses it: the stored hashes (200 per pipeline), a hash
 * without an `id` field deleted on the way (as the legacy's listing does), PostgreSQL's rows when Redis has no
 * Console account at all.
 */
async function consoleListing(d: RateLimitCleanupDeps): Promise<AccountHash[]> {
  const names = await scanKeys(d.redis, keys.accountPattern('claude-console'), { count: 20_000 });
  if (names.length === 0) return d.accounts.list('claude-console');
  const out: AccountHash[] = [];
  for (let i = 0; i < names.length; i += 200) {
    const chunk = names.slice(i, i + 200);
    const hashes = await readHashes(d.redis, chunk);
    for (let j = 0; j < chunk.length; j++) {
      const hash = hashes[j];
      if (!hash) continue;
      if (!hash['id']) {
        d.log.warn({ key: chunk[j] }, 'Claude Console account data without an id: deleted');
        await d.redis.del(chunk[j]!);
        continue;
      }
      out.push(hash);
    }
  }
  return out;
}

/**
 * cleanupClaudeConsoleAccounts: the legacy's listing is a summary without `rateLimitStatus` or
 * `rateLimitAutoStopped`, so only accounts whose `status` is 'rate_limited' are checked. One no longer limited (an
 * expired limit is lifted on the way, as the scheduler lifts it) is reported, and `updateAccount(id, {status:
 * 'active'})` runs for it: that call ignores `status` and only stamps `updatedAt` (HSET, PostgreSQL upsert of the
 * stored hash); the lift has already set the status.
 */
async function consoleAccounts(d: RateLimitCleanupDeps, t: PlatformTally, cleared: ClearedAccount[]): Promise<void> {
  try {
    for (const a of await consoleListing(d)) {
      if ((a['status'] || 'active') !== 'rate_limited') continue;
      t.checked++;
      const id = a['id']!;
      try {
        if (await consoleRateLimited(d.redis, d.accounts, id, d.nowMs)) continue;
        t.cleared++;
        if (!(await d.accounts.get('claude-console', id))) throw new Error('Account not found');
        await d.accounts.updateFields('claude-console', id, { updatedAt: new Date(d.nowMs).toISOString() }, { mirror: true });
        d.log.info({ accountId: id, name: a['name'] }, 'auto-cleared expired rate limit for a Claude Console account');
        cleared.push({ platform: 'Claude Console', accountId: id, accountName: a['name'], previousStatus: 'rate_limited', currentStatus: 'active' });
      } catch (err) {
        t.errors++;
        d.log.warn({ accountId: id, err: (err as Error).message }, 'rate limit cleanup: account failed');
      }
    }
  } catch (err) {
    t.errors++;
    d.log.error({ err: (err as Error).message }, 'failed to clean up Claude Console accounts');
  }
}

/**
 * One pass of the legacy's rate-limit cleanup service (src/services/rateLimitCleanupService.js `performCleanup`)
 * for the account types the gateway relays: official Claude accounts (rate limits and 5-hour stops), then Console
 * accounts. OpenAI accounts are not swept here (their relay is not migrated; the legacy's own processes sweep
 * them).
 */
export async function cleanupRateLimits(d: RateLimitCleanupDeps): Promise<RateLimitCleanupResult> {
  const result: RateLimitCleanupResult = { claude: tally(), claudeConsole: tally(), cleared: [] };
  await officialAccounts(d, result.claude, result.cleared);
  await consoleAccounts(d, result.claudeConsole, result.cleared);
  return result;
}

/** The recovery notification's text (sendRecoveryNotifications): the count, then each platform's accounts. */
export function recoveryMessage(cleared: ClearedAccount[]): { message: string; platforms: string[] } {
  const byPlatform = new Map<string, ClearedAccount[]>();
  for (const a of cleared) {
    const list = byPlatform.get(a.platform) ?? [];
    list.push(a);
    byPlatform.set(a.platform, list);
  }
  let message = `🎉 共有 ${cleared.length} 个账户的限流状态已恢复\n\n`;
  for (const [platform, list] of byPlatform) {
    message += `**${platform}** (${list.length} 个):\n`;
    for (const a of list) message += `• ${a.accountName} (ID: ${a.accountId})\n`;
    message += '\n';
  }
  return { message, platforms: [...byPlatform.keys()] };
}
