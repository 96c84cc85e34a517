import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import * as r from './rejections.js';
import type { AuthRejection, RateLimitInfo } from './types.js';
import type { ValidatedKey } from './validate-key.js';

/**
 * Steps 7–10 of authenticateApiKey (auth-and-keys.md §3.5, §3.6): the rate-limit window
 * (requests / tokens / cost, counted even on count_tokens paths), then the daily, total and
 * weekly-Opus cost limits. Active fuel bypasses window-cost, daily and total (not Opus).
 */

function hasActiveFuel(key: ValidatedKey, now: number): boolean {
  return key.parsed.fuelBalance > 0 && key.parsed.fuelNextExpiresAtMs > now;
}

/** Rate-limit window: returns the rejection, or the counters after counting this request (null when inactive). */
export async function checkRateLimitWindow(
  redis: Redis,
  clock: Clock,
  key: ValidatedKey,
): Promise<{ rejection: AuthRejection } | { info: RateLimitInfo | null }> {
  const p = key.parsed;
  const window = p.rateLimitWindow || 0;
  const requestLimit = p.rateLimitRequests || 0;
  const costLimit = p.rateLimitCost || 0;
  if (!(window > 0 && (requestLimit > 0 || p.tokenLimit > 0 || costLimit > 0))) return { info: null };

  const id = p.id || key.record.id;
  const startKey = keys.rateLimitWindowStart(id);
  const requestKey = keys.rateLimitRequests(id);
  const tokenKey = keys.rateLimitTokens(id);
  const costKey = keys.rateLimitCost(id);
  const now = clock.now();
  const duration = window * 60 * 1000;

  const stored = await redis.get(startKey);
  let windowStart: number;
  const reset = async () => {
    await redis
      .multi()
      .set(startKey, String(now), 'PX', duration)
      .set(requestKey, '0', 'PX', duration)
      .set(tokenKey, '0', 'PX', duration)
      .set(costKey, '0', 'PX', duration)
      .exec();
    return now;
  };
  if (!stored) windowStart = await reset();
  else {
    windowStart = Number.parseInt(stored, 10);
    if (now - windowStart >= duration) windowStart = await reset();
  }

  const [reqRaw, tokRaw, costRaw] = await redis.mget(requestKey, tokenKey, costKey);
  const currentRequests = Number.parseInt(reqRaw || '0', 10);
  const currentTokens = Number.parseInt(tokRaw || '0', 10);
  const currentCost = Number.parseFloat(costRaw || '0');
  const resetTime = windowStart + duration;
  const resetAt = new Date(resetTime).toISOString();
  const remainingMinutes = Math.ceil((resetTime - now) / 60000);

  if (requestLimit > 0 && currentRequests >= requestLimit) {
    return { rejection: r.requestRateLimited({ limit: requestLimit, current: currentRequests, resetAt, remainingMinutes }) };
  }
  const tokenLimit = p.tokenLimit;
  if (tokenLimit > 0) {
    if (currentTokens >= tokenLimit) {
      return { rejection: r.tokenRateLimited({ limit: tokenLimit, current: currentTokens, resetAt, remainingMinutes }) };
    }
  } else if (costLimit > 0) {
    if (currentCost >= costLimit && !hasActiveFuel(key, now)) {
      return { rejection: r.costRateLimited({ limit: costLimit, current: currentCost, resetAt, remainingMinutes }) };
    }
  }

  await redis.incr(requestKey);
  return {
    info: {
      windowStart,
      windowDuration: duration,
      requestCountKey: requestKey,
      tokenCountKey: tokenKey,
      costCountKey: costKey,
      currentRequests: currentRequests + 1,
      currentTokens,
      currentCost,
      rateLimitRequests: requestLimit,
      tokenLimit,
      rateLimitCost: costLimit,
    },
  };
}

/** Next local midnight (`new Date().setHours(24,0,0,0)`, server-local time like the legacy). */
export function nextLocalMidnightIso(nowMs: number): string {
  const d = new Date(nowMs);
  d.setHours(24, 0, 0, 0);
  return d.toISOString();
}

/** Next Monday 00:00 server-local (today Monday → +7 days). */
export function nextLocalMondayIso(nowMs: number): string {
  const now = new Date(nowMs);
  const day = now.getDay();
  const daysUntilMonday = day === 0 ? 1 : (8 - day) % 7 || 7;
  const reset = new Date(nowMs);
  reset.setDate(now.getDate() + daysUntilMonday);
  reset.setHours(0, 0, 0, 0);
  return reset.toISOString();
}

export function checkCostLimits(clock: Clock, key: ValidatedKey, body: unknown): AuthRejection | null {
  const p = key.parsed;
  const now = clock.now();
  const dailyLimit = p.dailyCostLimit || 0;
  if (dailyLimit > 0) {
    const daily = key.billableDailyCost;
    if (daily >= dailyLimit && !hasActiveFuel(key, now)) {
      return r.dailyCostExceeded({ limit: dailyLimit, current: daily, resetAt: nextLocalMidnightIso(now) });
    }
  }
  const totalLimit = p.totalCostLimit || 0;
  if (totalLimit > 0) {
    const total = key.billableTotalCost;
    if (total >= totalLimit && !hasActiveFuel(key, now)) return r.totalCostExceeded({ limit: totalLimit, current: total });
  }
  const opusLimit = p.weeklyOpusCostLimit || 0;
  if (opusLimit > 0) {
    const model = body && typeof body === 'object' ? (body as Record<string, unknown>).model : undefined;
    // the legacy calls model.toLowerCase(): a non-string model throws there (→ 500 Authentication error)
    if (model && typeof model !== 'string') throw new TypeError('model.toLowerCase is not a function');
    if (model && typeof model === 'string' && model.toLowerCase().includes('claude-opus')) {
      const opus = key.costs.weeklyOpusCost || 0;
      if (opus >= opusLimit) return r.weeklyOpusExceeded({ limit: opusLimit, current: opus, resetAt: nextLocalMondayIso(now) });
    }
  }
  return null;
}
