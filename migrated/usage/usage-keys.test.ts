import { describe, expect, it } from 'vitest';
import { BucketsMemo, bucketsAt, epochMinute, keys, normalizeModelName } from '../storage/keys.js';
import { UsageKeyNames } from './usage-keys.js';

const T = Date.UTC(2026, 10, 26, 11, 52, 3, 699);

function expected(keyId: string, accountId: string, model: string, at: number, tz: number) {
  const b = bucketsAt(at, tz);
  const m = normalizeModelName(model);
  return {
    token: [keys.usageTotal(keyId), keys.usageDaily(keyId, b.date), keys.usageMonthly(keyId, b.month), keys.usageHourly(keyId, b.hour), keys.usageModelDaily(m, b.date), keys.usageModelMonthly(m, b.month), keys.usageModelHourly(m, b.hour), keys.usageKeyModelDaily(keyId, m, b.date), keys.usageKeyModelMonthly(keyId, m, b.month), keys.usageKeyModelHourly(keyId, m, b.hour)],
    account: [keys.accountUsageTotal(accountId), keys.accountUsageDaily(accountId, b.date), keys.accountUsageMonthly(accountId, b.month), keys.accountUsageHourly(accountId, b.hour), keys.accountUsageModelDaily(accountId, m, b.date), keys.accountUsageModelMonthly(accountId, m, b.month), keys.accountUsageModelHourly(accountId, m, b.hour), keys.accountHourlyModelField(m, '')],
    cost: [keys.costDaily(keyId, b.date), keys.costMonthly(keyId, b.month), keys.costHourly(keyId, b.hour), keys.costTotal(keyId)],
  };
}

function actual(names: UsageKeyNames, buckets: BucketsMemo, keyId: string, accountId: string, model: string, at: number, tz: number) {
  const b = buckets.at(at, tz);
  const t = names.tokenUsage(keyId, model, b);
  const a = names.accountUsage(accountId, model, b);
  const c = names.cost(keyId, b);
  return {
    token: [t.total, t.daily, t.monthly, t.hourly, t.modelDaily, t.modelMonthly, t.modelHourly, t.keyModelDaily, t.keyModelMonthly, t.keyModelHourly],
    account: [a.total, a.daily, a.monthly, a.hourly, a.modelDaily, a.modelMonthly, a.modelHourly, a.hourlyModelPrefix],
    cost: [c.daily, c.monthly, c.hourly, c.total],
  };
}

describe('usage key names kept per key/account/model and time bucket', () => {
  it('are what storage/keys.ts builds, across hours, days, months, time zones and many key/model pairs', () => {
    const models = ['claude-sonnet-4-5-20250929', 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', 'gpt-4o:latest', 'mödel 😀'];
    const names = new UsageKeyNames();
    const buckets = new BucketsMemo();
    let at = T;
    for (let i = 0; i < 3000; i++) {
      at += [1, 59_000, 3_600_000, 86_400_000 * 17][i % 4]!;
      const tz = [8, 0, -5, 9][Math.floor(i / 7) % 4]!;
      const keyId = `k${i % 1100}`; // past the cache's bound: exercises the reset
      const model = models[i % models.length]!;
      expect(actual(names, buckets, keyId, `acc${i % 5}`, model, at, tz)).toEqual(expected(keyId, `acc${i % 5}`, model, at, tz));
    }
  });

  it('hands out the same strings within a bucket and new ones when the hour changes', () => {
    const names = new UsageKeyNames();
    const a = names.tokenUsage('same', 'm', bucketsAt(T, 8));
    expect(names.tokenUsage('same', 'm', bucketsAt(T + 1000, 8))).toBe(a);
    expect(new UsageKeyNames().tokenUsage('same', 'm', bucketsAt(T, 8))).not.toBe(a); // per owner, never module-wide
    const next = names.tokenUsage('same', 'm', bucketsAt(T + 3_600_000, 8));
    expect(next).not.toBe(a);
    expect(next.hourly).toBe(keys.usageHourly('same', bucketsAt(T + 3_600_000, 8).hour));
  });

  it('BucketsMemo keeps its result within a zone hour only', () => {
    const memo = new BucketsMemo();
    const b = memo.at(T, 8);
    expect(memo.at(T + 60_000, 8)).toBe(b);
    expect(Object.isFrozen(b)).toBe(true);
    expect(memo.at(T, 9)).toEqual({ date: '2026-11-26', month: '2026-11', hour: '2026-11-26:20' });
    expect(memo.at(T + 3_600_000, 8)).toEqual({ date: '2026-11-26', month: '2026-11', hour: '2026-11-26:20' });
    expect(memo.at(Number.NaN, 8)).toEqual({ date: 'NaN-NaN-NaN', month: 'NaN-NaN', hour: 'NaN-NaN-NaN:NaN' });
  });

  it('per-key and per-minute names', () => {
    const names = new UsageKeyNames();
    expect(names.apiKey('k1')).toEqual({ key: keys.apiKey('k1'), legacyKey: keys.apiKeyLegacy('k1'), hashMap: keys.apiKeyHashMap(), records: keys.usageRecords('k1') });
    expect(names.systemMetricsMinute(epochMinute(T))).toBe(keys.systemMetricsMinute(epochMinute(T)));
    expect(names.systemMetricsMinute(epochMinute(T) + 1)).toBe(keys.systemMetricsMinute(epochMinute(T) + 1));
  });
});
