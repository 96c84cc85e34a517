import type { WriteOps } from '../storage/write-batch.js';
import { incTokenCounters, type TokenCounts } from './token-counters.js';
import type { PricingTable } from '../pricing/pricing-table.js';
import { costCalculatorCost } from '../pricing/cost.js';
import { normalizeModelName, ttl, type Buckets } from '../storage/keys.js';
import type { UsageMemo } from './usage-memo.js';

/**
 * Per-upstream-account counters (legacy src/models/redis.js `incrementAccountUsage`).
 * Its cost uses CostCalculator with the NORMALIZED model and no cache_creation object
 * (QUIRKS: key-level and account-level costs use different arithmetic), and the output
 * count has no "total" fallback.
 */
export interface AccountUsageArgs {
  accountId: string;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  model: string;
  isLongContextRequest: boolean;
  buckets: Buckets;
}

/** The account-level request cost the legacy adds to totalCost / cost (0 when not finite or <= 0). */
export function accountRequestCost(table: PricingTable, a: Omit<AccountUsageArgs, 'accountId' | 'buckets' | 'isLongContextRequest'>): number {
  return costWithNormalizedModel(table, a, normalizeModelName(a.model));
}

function costWithNormalizedModel(table: PricingTable, a: Omit<AccountUsageArgs, 'accountId' | 'buckets' | 'isLongContextRequest' | 'model'>, normalizedModel: string): number {
  try {
    const raw = costCalculatorCost(
      table,
      {
        input_tokens: a.inputTokens || 0,
        output_tokens: a.outputTokens || 0,
        cache_creation_input_tokens: a.cacheCreateTokens || 0,
        cache_read_input_tokens: a.cacheReadTokens || 0,
      },
      normalizedModel,
    ).costs.total;
    return Number.isFinite(raw) && raw > 0 ? raw : 0;
  } catch {
    return 0;
  }
}

export function queueAccountUsage(p: WriteOps, table: PricingTable, a: AccountUsageArgs, memo: UsageMemo): void {
  const k = memo.names.accountUsage(a.accountId, a.model, a.buckets);
  const { total, daily, monthly, hourly, modelDaily, modelMonthly, modelHourly } = k;
  const fI = a.inputTokens || 0;
  const fO = a.outputTokens || 0;
  const fCC = a.cacheCreateTokens || 0;
  const fCR = a.cacheReadTokens || 0;
  const all = fI + fO + fCC + fCR;
  const core = fI + fO;
  const cost = costWithNormalizedModel(table, a, k.model);
  const inc = (key: string, field: string, by: number) => p.hincrby(key, field, by);
  const counts: TokenCounts = { input: fI, output: fO, cacheCreate: fCC, cacheRead: fCR, all };
  const counters = (key: string, prefix: string, req = 'requests') => incTokenCounters(p, memo.runs, key, counts, prefix, req);

  inc(total, 'totalTokens', core);
  inc(total, 'totalInputTokens', fI);
  inc(total, 'totalOutputTokens', fO);
  inc(total, 'totalCacheCreateTokens', fCC);
  inc(total, 'totalCacheReadTokens', fCR);
  inc(total, 'totalAllTokens', all);
  inc(total, 'totalRequests', 1);
  p.hincrbyfloat(total, 'totalCost', cost);
  for (const key of [daily, monthly]) {
    inc(key, 'tokens', core);
    counters(key, '');
    p.hincrbyfloat(key, 'cost', cost);
  }
  inc(hourly, 'tokens', core);
  counters(hourly, '');
  counters(hourly, k.hourlyModelPrefix);
  counters(modelDaily, '');
  counters(modelMonthly, '');
  counters(modelHourly, '');
  p.expire(daily, ttl.usageDaily);
  p.expire(monthly, ttl.usageMonthly);
  p.expire(hourly, ttl.usageHourly);
  p.expire(modelDaily, ttl.usageDaily);
  p.expire(modelMonthly, ttl.usageMonthly);
  p.expire(modelHourly, ttl.usageHourly);
  if (a.isLongContextRequest) {
    inc(total, 'totalLongContextInputTokens', fI);
    inc(total, 'totalLongContextOutputTokens', fO);
    inc(total, 'totalLongContextRequests', 1);
    inc(daily, 'longContextInputTokens', fI);
    inc(daily, 'longContextOutputTokens', fO);
    inc(daily, 'longContextRequests', 1);
  }
}
