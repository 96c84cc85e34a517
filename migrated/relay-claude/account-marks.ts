import type { Redis } from 'ioredis';
import type { AccountRepository, AccountHash } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';
import type { StickySessions } from '../storage/sessions.js';
import type { Clock } from '../runtime/clock.js';
import { isoWithOffset, wallTimeWithZone } from '../notify/legacy-time.js';
import type { AnomalyNotifier } from '../notify/notifier.js';

/**
 * The account state writes of the Claude relay (relay-claude.md §4.5, §4.6, §5.3, §8):
 * official accounts are rewritten whole (the legacy's setClaudeAccount: full-hash HSET + PG
 * upsert, through AccountRepository.save), console accounts get field HSETs (not mirrored).
 */
export interface MarkDeps {
  redis: Redis;
  clock: Clock;
  accounts: AccountRepository;
  sticky: StickySessions;
  /** Account-anomaly webhooks where the legacy sends them (fire-and-forget). */
  notify?: AnomalyNotifier;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A session window from `startMs`: 5 process-local hours long. */
export function sessionWindowFrom(startMs: number): { start: string; end: string } {
  const end = new Date(startMs);
  end.setHours(end.getHours() + 5);
  return { start: new Date(startMs).toISOString(), end: end.toISOString() };
}

/** Session window start: the current process-local hour (minutes/seconds zeroed), +5 h end. */
export function sessionWindowAt(nowMs: number): { start: string; end: string } {
  const start = new Date(nowMs);
  start.setMinutes(0, 0, 0);
  return sessionWindowFrom(start.getTime());
}

/**
 * updateSessionWindow on an in-memory account: keep the window while it runs (only
 * lastRequestTime), else open a new one and drop the status / 5-hour auto-stop fields.
 * Returns the field names to HDEL afterwards (the legacy's _removeAccountFields).
 */
export function applySessionWindow(a: AccountHash, nowMs: number, notify?: AnomalyNotifier, accountId?: string, offsetHours = 8): string[] {
  const now = iso(nowMs);
  if (a['sessionWindowStart'] && a['sessionWindowEnd'] && nowMs < new Date(a['sessionWindowEnd']).getTime()) {
    a['lastRequestTime'] = now;
    return [];
  }
  const w = sessionWindowAt(nowMs);
  a['sessionWindowStart'] = w.start;
  a['sessionWindowEnd'] = w.end;
  a['lastRequestTime'] = now;
  const remove: string[] = [];
  if (a['sessionWindowStatus']) {
    delete a['sessionWindowStatus'];
    delete a['sessionWindowStatusUpdatedAt'];
    for (const f of ['fiveHourWarningWindow', 'fiveHourWarningCount', 'fiveHourWarningLastSentAt']) delete a[f];
    remove.push('sessionWindowStatus', 'sessionWindowStatusUpdatedAt');
  }
  if (a['fiveHourAutoStopped'] === 'true' && a['schedulable'] === 'false') {
    a['schedulable'] = 'true';
    delete a['fiveHourAutoStopped'];
    delete a['fiveHourStoppedAt'];
    remove.unshift('fiveHourAutoStopped', 'fiveHourStoppedAt');
    if (accountId) notify?.accountAnomaly({ accountId, accountName: a['name'] || 'Claude Account', platform: 'claude', status: 'resumed', errorCode: 'CLAUDE_5H_LIMIT_RESUMED', reason: '进入新的5小时窗口，已自动恢复调度', timestamp: isoWithOffset(nowMs, offsetHours) });
  }
  return remove;
}

function isWindowStatus(status: string | undefined): status is string {
  return !!status && ['allowed', 'allowed_warning', 'rejected'].includes(status);
}

/** updateSessionWindowStatus on an in-memory account hash; true when the legacy sends its 5h warning webhook. */
function applyWindowStatus(a: AccountHash, status: string, now: string): boolean {
  a['sessionWindowStatus'] = status;
  a['sessionWindowStatusUpdatedAt'] = now;
  if (status === 'allowed_warning' && a['autoStopOnWarning'] === 'true' && !(a['schedulable'] === 'false' && a['fiveHourAutoStopped'] === 'true')) {
    const windowId = a['sessionWindowEnd'] || a['sessionWindowStart'] || 'unknown';
    let count = 0;
    if (a['fiveHourWarningWindow'] === windowId) count = Number.parseInt(a['fiveHourWarningCount'] || '0', 10) || 0;
    a['schedulable'] = 'false';
    a['fiveHourAutoStopped'] = 'true';
    a['fiveHourStoppedAt'] = now;
    a['stoppedReason'] = '5小时使用量接近限制，已自动停止调度';
    a['fiveHourWarningWindow'] = windowId;
    const maxWarnings = 1;
    if (count < maxWarnings) {
      count += 1;
      a['fiveHourWarningLastSentAt'] = now;
      a['fiveHourWarningCount'] = String(count);
      return true;
    }
    a['fiveHourWarningCount'] = String(count);
  }
  return false;
}

export class OfficialMarks {
  constructor(private readonly d: MarkDeps) {}

  private async load(id: string): Promise<AccountHash | null> {
    return this.d.accounts.get('claude', id);
  }

  private fiveHourWarning(id: string, a: AccountHash, nowMs: number): void {
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Account', platform: 'claude', status: 'warning', errorCode: 'CLAUDE_5H_LIMIT_WARNING', reason: '5小时使用量接近限制，已自动停止调度', timestamp: isoWithOffset(nowMs, this.d.clock.timezoneOffsetHours) });
  }

  /** markAccountRateLimited (+ scheduler mapping deletion). */
  async rateLimited(id: string, sessionHash: string | null, resetSeconds: number | null): Promise<void> {
    const a = await this.load(id);
    if (!a) return;
    const now = this.d.clock.now();
    a['rateLimitedAt'] = iso(now);
    a['rateLimitStatus'] = 'limited';
    a['schedulable'] = 'false';
    a['rateLimitAutoStopped'] = 'true';
    let remove: string[] = [];
    if (resetSeconds) {
      const reset = resetSeconds * 1000;
      a['rateLimitEndAt'] = iso(reset);
      a['sessionWindowStart'] = iso(reset - 5 * 3_600_000);
      a['sessionWindowEnd'] = iso(reset);
    } else {
      remove = applySessionWindow(a, now, this.d.notify, id, this.d.clock.timezoneOffsetHours);
      a['rateLimitEndAt'] = a['sessionWindowEnd'] ? a['sessionWindowEnd'] : iso(now + 3_600_000);
    }
    if (remove.length) await this.d.redis.hdel(keys.account('claude', id), ...remove);
    await this.d.accounts.save('claude', id, a);
    if (sessionHash) {
      await this.d.redis.del(keys.stickySession(sessionHash));
      await this.d.sticky.delete('claude', sessionHash);
    }
    const reason = `Account rate limited (429 error). ${resetSeconds ? `Reset at: ${wallTimeWithZone(resetSeconds, this.d.clock.timezoneOffsetHours)}` : 'Estimated reset in 1-5 hours'}`;
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Account', platform: 'claude-oauth', status: 'error', errorCode: 'CLAUDE_OAUTH_RATE_LIMITED', reason, timestamp: isoWithOffset(now, this.d.clock.timezoneOffsetHours) });
  }

  /** markAccountOpusRateLimited: fields only, mapping kept. */
  async opusRateLimited(id: string, resetSeconds: number): Promise<void> {
    const a = await this.load(id);
    if (!a) return;
    a['opusRateLimitedAt'] = iso(this.d.clock.now());
    a['opusRateLimitEndAt'] = iso(resetSeconds * 1000);
    await this.d.accounts.save('claude', id, a);
  }

  /** markAccountError('unauthorized' | 'blocked') + legacy sticky_session and mapping deletion. */
  async error(id: string, kind: 'unauthorized' | 'blocked', sessionHash: string | null): Promise<void> {
    const a = await this.load(id);
    if (!a) return;
    a['status'] = kind;
    a['schedulable'] = 'false';
    a['errorMessage'] =
      kind === 'unauthorized' ? 'Account unauthorized (401 errors detected)' : 'Account blocked (403 error detected - account may be suspended by Claude)';
    a[kind === 'unauthorized' ? 'unauthorizedAt' : 'blockedAt'] = iso(this.d.clock.now());
    await this.d.accounts.save('claude', id, a);
    if (sessionHash) {
      await this.d.redis.del(keys.stickySession(sessionHash));
      await this.d.sticky.delete('claude', sessionHash);
    }
    const errorCode = kind === 'unauthorized' ? 'CLAUDE_OAUTH_UNAUTHORIZED' : 'CLAUDE_OAUTH_BLOCKED';
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'], platform: 'claude-oauth', status: kind, errorCode, reason: a['errorMessage'], timestamp: isoWithOffset(this.d.clock.now(), this.d.clock.timezoneOffsetHours) });
  }

  /** 401: INCR + EXPIRE 300 of the counter; count ≥ 1 → unauthorized. */
  async unauthorized(id: string, sessionHash: string | null): Promise<void> {
    const key = keys.claudeAccount401Errors(id);
    await this.d.redis.incr(key);
    await this.d.redis.expire(key, 300);
    const count = Number.parseInt((await this.d.redis.get(key)) ?? '', 10) || 0;
    if (count >= 1) await this.error(id, 'unauthorized', sessionHash);
  }

  /** _handleServerError: 5xx counter, temp-unavailable 300 s, mapping deletion. */
  async serverError(id: string, sessionHash: string | null): Promise<void> {
    const key = keys.claudeAccount5xxErrors(id);
    await this.d.redis.incr(key);
    await this.d.redis.expire(key, 300);
    await this.d.redis.setex(keys.tempUnavailable('claude-official', id), 300, '1');
    if (sessionHash) await this.d.sticky.delete('claude', sessionHash);
  }

  /** updateSessionWindowStatus from the upstream 5h-status header. */
  async sessionWindowStatus(id: string, status: string | undefined): Promise<void> {
    if (!isWindowStatus(status)) return;
    const a = await this.load(id);
    if (!a) return;
    const now = this.d.clock.now();
    const warn = applyWindowStatus(a, status, iso(now));
    await this.d.accounts.save('claude', id, a);
    if (warn) this.fiveHourWarning(id, a, now);
  }

  /**
   * The 200/201 side effects in one go (§4.5): 5h window status, 401/5xx counters cleared, an
   * active rate limit removed. Same end state as the legacy's sequence (status save, DEL, DEL,
   * read, HDEL/HSET) with 2–3 round trips instead of 5–7.
   */
  async afterSuccess(id: string, status: string | undefined): Promise<void> {
    const res = await this.d.redis.pipeline().del(keys.claudeAccount401Errors(id), keys.claudeAccount5xxErrors(id)).hgetall(keys.account('claude', id)).exec();
    const fromRedis = (res?.[1]?.[1] ?? {}) as AccountHash;
    const a = Object.keys(fromRedis).length ? fromRedis : await this.load(id);
    if (!a) return;
    if (isWindowStatus(status)) {
      const now = this.d.clock.now();
      const warn = applyWindowStatus(a, status, iso(now));
      await this.d.accounts.save('claude', id, a);
      if (warn) this.fiveHourWarning(id, a, now);
    }
    await this.clearRateLimit(id, a);
  }

  /** Success side effects after a 200/201 (§4.5): counters cleared, an active rate limit removed. */
  async success(id: string): Promise<void> {
    await this.d.redis.del(keys.claudeAccount401Errors(id), keys.claudeAccount5xxErrors(id));
    const a = await this.load(id);
    if (a) await this.clearRateLimit(id, a);
  }

  /** isAccountRateLimited → removeAccountRateLimit on a just-read hash (success path). */
  private async clearRateLimit(id: string, a: AccountHash): Promise<void> {
    const flagged = (a['rateLimitStatus'] === 'limited' && !!a['rateLimitedAt']) || (a['rateLimitAutoStopped'] === 'true' && !!a['rateLimitEndAt']);
    if (!flagged) return;
    const key = keys.account('claude', id);
    const multi = this.d.redis.multi().hdel(key, 'rateLimitedAt', 'rateLimitStatus', 'rateLimitEndAt');
    if (a['rateLimitAutoStopped'] === 'true' && a['schedulable'] === 'false') multi.hset(key, 'schedulable', 'true');
    multi.hdel(key, 'rateLimitAutoStopped');
    await multi.exec();
    // the legacy rewrites the whole account here (setClaudeAccount), which also refreshes its PostgreSQL row
    const stored = await this.load(id);
    if (stored) await this.d.accounts.save('claude', id, stored);
  }
}

export class ConsoleMarks {
  constructor(private readonly d: MarkDeps) {}

  private async fields(id: string, f: Record<string, string>): Promise<void> {
    await this.d.accounts.updateFields('claude-console', id, f);
  }

  async unauthorized(id: string): Promise<void> {
    const a = await this.d.accounts.get('claude-console', id);
    if (!a) return;
    await this.fields(id, {
      schedulable: 'false',
      status: 'unauthorized',
      errorMessage: 'API Key无效或已过期（401错误）',
      unauthorizedAt: iso(this.d.clock.now()),
      unauthorizedCount: String((Number.parseInt(a['unauthorizedCount'] || '0', 10) || 0) + 1),
    });
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Console Account', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_UNAUTHORIZED', reason: 'API Key无效或已过期（401错误），账户已停止调度', timestamp: iso(this.d.clock.now()) });
  }

  async rateLimited(id: string): Promise<void> {
    const a = await this.d.accounts.get('claude-console', id);
    if (!a) return;
    const parsed = Number.parseInt(a['rateLimitDuration'] ?? '', 10);
    const duration = Number.isNaN(parsed) ? 60 : parsed;
    if (duration === 0) return;
    const now = iso(this.d.clock.now());
    const f: Record<string, string> = {
      rateLimitedAt: now,
      rateLimitStatus: 'limited',
      isActive: 'false',
      schedulable: 'false',
      errorMessage: `Rate limited at ${now}`,
      rateLimitAutoStopped: 'true',
    };
    if (a['status'] !== 'quota_exceeded') f['status'] = 'rate_limited';
    await this.fields(id, f);
    const reason = `Account rate limited (429 error) and has been disabled. Will be automatically re-enabled after ${duration} minutes`;
    this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Console Account', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_RATE_LIMITED', reason, timestamp: isoWithOffset(this.d.clock.now(), this.d.clock.timezoneOffsetHours) });
  }

  async overloaded(id: string): Promise<void> {
    await this.fields(id, { overloadedAt: iso(this.d.clock.now()), overloadStatus: 'overloaded', errorMessage: '服务过载（529错误）' });
    const a = await this.d.accounts.get('claude-console', id);
    if (a) this.d.notify?.accountAnomaly({ accountId: id, accountName: a['name'] || 'Claude Console Account', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_OVERLOADED', reason: '服务过载（529错误）。账户将暂时停止调度', timestamp: iso(this.d.clock.now()) });
  }

  /** 200/201: remove rate-limit / overload flags when present (`known`: the hash as read for this request). */
  async success(id: string, known?: AccountHash): Promise<void> {
    const a = known ?? (await this.d.accounts.get('claude-console', id));
    if (!a) return;
    if (a['rateLimitStatus'] === 'limited' || a['rateLimitedAt']) {
      const key = keys.account('claude-console', id);
      await this.d.redis.hdel(key, 'rateLimitedAt', 'rateLimitStatus');
      if (a['status'] === 'rate_limited') {
        if (a['quotaStoppedAt']) await this.d.redis.hset(key, 'status', 'quota_exceeded');
        else {
          const update: Record<string, string> = { isActive: 'true', status: 'active', errorMessage: '' };
          if (a['rateLimitAutoStopped'] === 'true' && a['schedulable'] === 'false') update['schedulable'] = 'true';
          if (a['rateLimitAutoStopped'] === 'true') await this.d.redis.hdel(key, 'rateLimitAutoStopped');
          await this.d.redis.hset(key, update);
        }
      } else {
        await this.d.redis.hdel(key, 'rateLimitAutoStopped');
      }
    }
    if (a['overloadStatus'] === 'overloaded') await this.d.redis.hdel(keys.account('claude-console', id), 'overloadedAt', 'overloadStatus');
  }

  /** HSET lastUsedAt when the key exists (after every upstream response). */
  async touch(id: string): Promise<void> {
    await this.d.accounts.touchLastUsed('claude-console', id, { onlyIfExists: true });
  }
}
