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
