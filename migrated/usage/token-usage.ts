import type { WriteOps } from '../storage/write-batch.js';
import { incTokenCounters, type TokenCounts } from './token-counters.js';
import { epochMinute, ttl, type Buckets } from '../storage/keys.js';
import type { UsageMemo } from './usage-memo.js';

/**
 * The per-API-key counters of one request (legacy src/models/redis.js `incrementTokenUsage`):
 * 80-ish HINCRBYs in the legacy's exact order, then the EXPIREs. Queued on a MULTI/pipeline.
 */
export interface TokenUsageArgs {
  keyId: string;
  /** First numeric argument: I + O + CC + CR as the recorder computed it. */
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  /** Raw model (normalized here for key names). */
  model: string;
  ephemeral5mTokens: number;
  ephemeral1hTokens: number;
  isLongContextRequest: boolean;
  buckets: Buckets;
  nowMs: number;
  /**
   * config.system.metricsWindow (minutes). The legacy's example config has none, so its
   * `EXPIRE … NaN` fails and `system:metrics:minute:*` keeps no TTL: undefined reproduces that
   * (no EXPIRE sent); a number sends EXPIRE window×120.
   */
  metricsWindowMinutes?: number | undefined;
}

export function queueTokenUsage(p: WriteOps, a: TokenUsageArgs, memo: UsageMemo): void {
  const { total, daily, monthly, hourly, modelDaily, modelMonthly, modelHourly, keyModelDaily, keyModelMonthly, keyModelHourly } = memo.names.tokenUsage(
    a.keyId,
    a.model,
    a.buckets,
  );
  const minuteKey = memo.names.systemMetricsMinute(epochMinute(a.nowMs));

  const fI = a.inputTokens || 0;
  // Quirk (usage-accounting.md §4.3): output falls back to the total when input and output are 0.
  const fO = a.outputTokens || (fI > 0 ? 0 : a.tokens);
  const fCC = a.cacheCreateTokens || 0;
  const fCR = a.cacheReadTokens || 0;
  const all = fI + fO + fCC + fCR;
  const core = fI + fO;
  const e5 = a.ephemeral5mTokens;
  const e1 = a.ephemeral1hTokens;
  const lc = a.isLongContextRequest;
  const inc = (key: string, field: string, by: number) => p.hincrby(key, field, by);
  const counts: TokenCounts = { input: fI, output: fO, cacheCreate: fCC, cacheRead: fCR, all };
  const six = (key: string) => incTokenCounters(p, memo.runs, key, counts);

  inc(total, 'totalTokens', core);
  inc(total, 'totalInputTokens', fI);
  inc(total, 'totalOutputTokens', fO);
  inc(total, 'totalCacheCreateTokens', fCC);
  inc(total, 'totalCacheReadTokens', fCR);
  inc(total, 'totalAllTokens', all);
  inc(total, 'totalEphemeral5mTokens', e5);
  inc(total, 'totalEphemeral1hTokens', e1);
  if (lc) {
    inc(total, 'totalLongContextInputTokens', fI);
    inc(total, 'totalLongContextOutputTokens', fO);
    inc(total, 'totalLongContextRequests', 1);
  }
  inc(total, 'totalRequests', 1);

  for (const key of [daily, monthly]) {
    inc(key, 'tokens', core);
    six(key);
    inc(key, 'ephemeral5mTokens', e5);
    inc(key, 'ephemeral1hTokens', e1);
    if (lc && key === daily) {
      inc(key, 'longContextInputTokens', fI);
      inc(key, 'longContextOutputTokens', fO);
      inc(key, 'longContextRequests', 1);
    }
  }
  six(modelDaily);
  six(modelMonthly);
  for (const key of [keyModelDaily, keyModelMonthly]) {
    six(key);
    inc(key, 'ephemeral5mTokens', e5);
    inc(key, 'ephemeral1hTokens', e1);
  }
  inc(hourly, 'tokens', core);
  six(hourly);
  six(modelHourly);
  six(keyModelHourly);
  inc(minuteKey, 'requests', 1);
  inc(minuteKey, 'totalTokens', all);
  inc(minuteKey, 'inputTokens', fI);
  inc(minuteKey, 'outputTokens', fO);
  inc(minuteKey, 'cacheCreateTokens', fCC);
  inc(minuteKey, 'cacheReadTokens', fCR);

  p.expire(daily, ttl.usageDaily);
  p.expire(monthly, ttl.usageMonthly);
  p.expire(hourly, ttl.usageHourly);
  p.expire(modelDaily, ttl.usageDaily);
  p.expire(modelMonthly, ttl.usageMonthly);
  p.expire(modelHourly, ttl.usageHourly);
  p.expire(keyModelDaily, ttl.usageDaily);
  p.expire(keyModelMonthly, ttl.usageMonthly);
  p.expire(keyModelHourly, ttl.usageHourly);
  if (a.metricsWindowMinutes !== undefined && Number.isFinite(a.metricsWindowMinutes)) {
    p.expire(minuteKey, a.metricsWindowMinutes * 60 * 2);
  }
}
