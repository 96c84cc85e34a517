import type { AccountHash } from '../../storage/accounts.js';

/**
 * claudeAccountService.getAccountOverview (+ getSessionWindowInfo, getAccountRateLimitInfo):
 * what /apiStats/api/user-stats shows about a key's dedicated Claude account.
 */
export function claudeAccountOverview(a: AccountHash, nowMs: number): Record<string, unknown> {
  let sessionWindow: Record<string, unknown>;
  if (!a.sessionWindowStart || !a.sessionWindowEnd) {
    sessionWindow = {
      hasActiveWindow: false,
      windowStart: null,
      windowEnd: null,
      progress: 0,
      remainingTime: null,
      lastRequestTime: a.lastRequestTime || null,
      sessionWindowStatus: a.sessionWindowStatus || null,
    };
  } else {
    const start = new Date(a.sessionWindowStart).getTime();
    const end = new Date(a.sessionWindowEnd).getTime();
    if (nowMs >= end) {
      sessionWindow = {
        hasActiveWindow: false,
        windowStart: a.sessionWindowStart,
        windowEnd: a.sessionWindowEnd,
        progress: 100,
        remainingTime: 0,
        lastRequestTime: a.lastRequestTime || null,
        sessionWindowStatus: a.sessionWindowStatus || null,
      };
    } else {
      sessionWindow = {
        hasActiveWindow: true,
        windowStart: a.sessionWindowStart,
        windowEnd: a.sessionWindowEnd,
        progress: Math.round(((nowMs - start) / (end - start)) * 100),
        remainingTime: Math.round((end - nowMs) / (1000 * 60)),
        lastRequestTime: a.lastRequestTime || null,
        sessionWindowStatus: a.sessionWindowStatus || null,
      };
    }
  }

  let rateLimitStatus: Record<string, unknown> = { isRateLimited: false, rateLimitedAt: null, minutesRemaining: 0, rateLimitEndAt: null };
  if (a.rateLimitStatus === 'limited' && a.rateLimitedAt) {
    const limitedAt = new Date(a.rateLimitedAt).getTime();
    const minutesSince = Math.floor((nowMs - limitedAt) / (1000 * 60));
    let minutesRemaining: number;
    let rateLimitEndAt: string;
    if (a.rateLimitEndAt) {
      rateLimitEndAt = a.rateLimitEndAt;
      minutesRemaining = Math.max(0, Math.ceil((new Date(a.rateLimitEndAt).getTime() - nowMs) / (1000 * 60)));
    } else {
      minutesRemaining = Math.max(0, 60 - minutesSince);
      rateLimitEndAt = new Date(limitedAt + 60 * 60 * 1000).toISOString();
    }
    rateLimitStatus = {
      isRateLimited: minutesRemaining > 0,
      rateLimitedAt: a.rateLimitedAt || null,
      minutesRemaining: minutesRemaining || 0,
      rateLimitEndAt: rateLimitEndAt || null,
    };
  }

  return {
    id: a.id,
    accountType: a.accountType || 'shared',
    platform: a.platform || 'claude',
    isActive: a.isActive === 'true',
    schedulable: a.schedulable !== 'false',
    sessionWindow,
    rateLimitStatus,
  };
}

const numberOrNull = (v: string | undefined): number | null => {
  if (v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};

function resetMeta(updatedAt: string | undefined, afterSeconds: number | null, nowMs: number) {
  if (!updatedAt || afterSeconds === null) return { resetAt: null, remainingSeconds: null };
  const updated = Date.parse(updatedAt);
  if (Number.isNaN(updated)) return { resetAt: null, remainingSeconds: null };
  const reset = updated + afterSeconds * 1000;
  return { resetAt: new Date(reset).toISOString(), remainingSeconds: Math.max(0, Math.round((reset - nowMs) / 1000)) };
}

/**
 * openaiAccountService.getAccountOverview (+ buildCodexUsageSnapshot, getAccountRateLimitInfo):
 * what /apiStats/api/user-stats shows about a key's dedicated OpenAI (Codex) account.
 */
export function openaiAccountOverview(a: AccountHash, nowMs: number): Record<string, unknown> {
  const updatedAt = a.codexUsageUpdatedAt;
  const p = {
    used: numberOrNull(a.codexPrimaryUsedPercent),
    after: numberOrNull(a.codexPrimaryResetAfterSeconds),
    window: numberOrNull(a.codexPrimaryWindowMinutes),
  };
  const s = {
    used: numberOrNull(a.codexSecondaryUsedPercent),
    after: numberOrNull(a.codexSecondaryResetAfterSeconds),
    window: numberOrNull(a.codexSecondaryWindowMinutes),
  };
  const over = numberOrNull(a.codexPrimaryOverSecondaryLimitPercent);
  const hasP = p.used !== null || p.after !== null || p.window !== null;
  const hasS = s.used !== null || s.after !== null || s.window !== null;
  let codexUsage: Record<string, unknown> | null = null;
  if (updatedAt || hasP || hasS) {
    const pm = resetMeta(updatedAt, p.after, nowMs);
    const sm = resetMeta(updatedAt, s.after, nowMs);
    codexUsage = {
      updatedAt,
      primary: { usedPercent: p.used, resetAfterSeconds: p.after, windowMinutes: p.window, resetAt: pm.resetAt, remainingSeconds: pm.remainingSeconds },
      secondary: { usedPercent: s.used, resetAfterSeconds: s.after, windowMinutes: s.window, resetAt: sm.resetAt, remainingSeconds: sm.remainingSeconds },
      primaryOverSecondaryPercent: over,
    };
  }

  const status = a.rateLimitStatus || 'normal';
  const rateLimitedAt = a.rateLimitedAt || null;
  const rateLimitResetAt = a.rateLimitResetAt || null;
  let minutesRemaining = 0;
  if (status === 'limited') {
    let remaining = 0;
    if (rateLimitResetAt) remaining = Math.max(0, new Date(rateLimitResetAt).getTime() - nowMs);
    else if (rateLimitedAt) remaining = Math.max(0, new Date(rateLimitedAt).getTime() + 60 * 60 * 1000 - nowMs);
    minutesRemaining = remaining > 0 ? Math.ceil(remaining / (60 * 1000)) : 0;
  }
  const rateLimitStatus = { status, isRateLimited: status === 'limited' && minutesRemaining > 0, rateLimitedAt, rateLimitResetAt, minutesRemaining };

  return {
    id: a.id,
    accountType: a.accountType || 'shared',
    platform: a.platform || 'openai',
    isActive: a.isActive === 'true',
    schedulable: a.schedulable !== 'false',
    rateLimitStatus,
    codexUsage,
    scopes: a.scopes && a.scopes.trim() ? a.scopes.split(' ') : [],
  };
}
