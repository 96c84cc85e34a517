import type { WriteOps } from '../storage/write-batch.js';
import { keys, ttl, type Buckets } from '../storage/keys.js';
import type { UsageMemo } from './usage-memo.js';

/**
 * Cost counters (legacy src/models/redis.js incrementDailyCost / incrementWeeklyOpusCost).
 * The raw double is sent (JS String(n) on the wire); Redis formats the sum.
 */
export function queueDailyCost(p: WriteOps, keyId: string, amount: number, b: Buckets, memo: UsageMemo): void {
  const { daily, monthly, hourly, total } = memo.names.cost(keyId, b);
  p.incrbyfloat(daily, amount);
  p.incrbyfloat(monthly, amount);
  p.incrbyfloat(hourly, amount);
  p.incrbyfloat(total, amount);
  p.expire(daily, ttl.costDaily);
  p.expire(monthly, ttl.costMonthly);
  p.expire(hourly, ttl.costHourly);
}

/** recordOpusCost's gate: model contains `claude-opus` and the account type is claude, claude-console or ccr. */
export function countsAsOpus(model: string, accountType: string | null | undefined): boolean {
  if (!model || !model.toLowerCase().includes('claude-opus')) return false;
  return accountType === 'claude' || accountType === 'claude-console' || accountType === 'ccr';
}

export function queueOpusCost(p: WriteOps, keyId: string, amount: number, week: string): void {
  const weekly = keys.opusWeekly(keyId, week);
  p.incrbyfloat(weekly, amount);
  p.incrbyfloat(keys.opusTotal(keyId), amount);
  p.expire(weekly, ttl.opusWeekly);
}
