import { keys, normalizeModelName, type Buckets } from '../storage/keys.js';

/**
 * The key names one usage recording writes, built once per (key id | account id, model) and time
 * bucket instead of once per request: every request of a key in the same hour writes the same
 * ~27 keys, so they are kept (the same string objects each time, which the batch also finds
 * faster) and rebuilt when the hour changes. Only storage/keys.ts builds the names; this caches
 * its results. Bounded (see PairCache, BoundedMap).
 */

/** A Map that drops its oldest entry (insertion order) when it would grow past `max`. */
class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  set(k: K, v: V): V {
    if (this.map.size >= this.max && !this.map.has(k)) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(k, v);
    return v;
  }
}

/** Bucketed entries remember which buckets they were built for. */
interface InBuckets {
  date: string;
  month: string;
  hour: string;
}
const current = (e: InBuckets, b: Buckets): boolean => e.hour === b.hour && e.date === b.date && e.month === b.month;

/**
 * Entries per (a, b) string pair, rebuilt when the buckets differ. At most `maxEntries` built
 * since the last reset: past that everything is dropped (a workload with more distinct pairs
 * than that simply builds its names per request, as before).
 */
class PairCache<T extends InBuckets> {
  private outer = new Map<string, Map<string, T>>();
  private built = 0;
  constructor(
    private readonly build: (a: string, b: string, bk: Buckets) => T,
    private readonly maxEntries: number,
  ) {}
  get(a: string, b: string, bk: Buckets): T {
    let inner = this.outer.get(a);
    const hit = inner?.get(b);
    if (hit !== undefined && current(hit, bk)) return hit;
    if (hit === undefined && ++this.built > this.maxEntries) {
      this.outer = new Map();
      this.built = 1;
      inner = undefined;
    }
    if (inner === undefined) {
      inner = new Map();
      this.outer.set(a, inner);
    }
    const entry = this.build(a, b, bk);
    inner.set(b, entry);
    return entry;
  }
}

/** Entries per cache (~1-2 KB each): enough for every key/model pair of a busy instance. */
const MAX_ENTRIES = 2048;
const MAX_IDS = 4096;

/** queueTokenUsage's keys for (keyId, raw model). */
export interface TokenUsageKeys extends InBuckets {
  /** normalizeModelName(model) */
  model: string;
  total: string;
  daily: string;
  monthly: string;
  hourly: string;
  modelDaily: string;
  modelMonthly: string;
  modelHourly: string;
  keyModelDaily: string;
  keyModelMonthly: string;
  keyModelHourly: string;
}

function buildTokenUsageKeys(keyId: string, model: string, { date, month, hour }: Buckets): TokenUsageKeys {
  const m = normalizeModelName(model);
  return {
    date,
    month,
    hour,
    model: m,
    total: keys.usageTotal(keyId),
    daily: keys.usageDaily(keyId, date),
    monthly: keys.usageMonthly(keyId, month),
    hourly: keys.usageHourly(keyId, hour),
    modelDaily: keys.usageModelDaily(m, date),
    modelMonthly: keys.usageModelMonthly(m, month),
    modelHourly: keys.usageModelHourly(m, hour),
    keyModelDaily: keys.usageKeyModelDaily(keyId, m, date),
    keyModelMonthly: keys.usageKeyModelMonthly(keyId, m, month),
    keyModelHourly: keys.usageKeyModelHourly(keyId, m, hour),
  };
}

/** queueAccountUsage's keys for (accountId, raw model). */
export interface AccountUsageKeys extends InBuckets {
  /** normalizeModelName(model) */
  model: string;
  total: string;
  daily: string;
  monthly: string;
  hourly: string;
  modelDaily: string;
  modelMonthly: string;
  modelHourly: string;
  /** accountHourlyModelField(model, ''): the per-model field prefix inside the hourly hash. */
  hourlyModelPrefix: string;
}

function buildAccountUsageKeys(accountId: string, model: string, { date, month, hour }: Buckets): AccountUsageKeys {
  const m = normalizeModelName(model);
  return {
    date,
    month,
    hour,
    model: m,
    total: keys.accountUsageTotal(accountId),
    daily: keys.accountUsageDaily(accountId, date),
    monthly: keys.accountUsageMonthly(accountId, month),
    hourly: keys.accountUsageHourly(accountId, hour),
    modelDaily: keys.accountUsageModelDaily(accountId, m, date),
    modelMonthly: keys.accountUsageModelMonthly(accountId, m, month),
    modelHourly: keys.accountUsageModelHourly(accountId, m, hour),
    hourlyModelPrefix: keys.accountHourlyModelField(m, ''),
  };
}

/** queueDailyCost's keys for a key id. */
export interface CostKeys extends InBuckets {
  daily: string;
  monthly: string;
  hourly: string;
  total: string;
}

function buildCostKeys(keyId: string, _unused: string, { date, month, hour }: Buckets): CostKeys {
  return {
    date,
    month,
    hour,
    daily: keys.costDaily(keyId, date),
    monthly: keys.costMonthly(keyId, month),
    hourly: keys.costHourly(keyId, hour),
    total: keys.costTotal(keyId),
  };
}

/** The per-key names that do not depend on time. */
export interface ApiKeyKeys {
  /** apikey:{id} */
  key: string;
  legacyKey: string;
  hashMap: string;
  records: string;
}

/**
 * The key names of a recorder's writes, memoised per (key id | account id, model) and time bucket (one per
 * recorder: UsageMemo). Pure memo tables: the names are exactly what the builders above make.
 */
export class UsageKeyNames {
  private readonly tokenUsageCache = new PairCache<TokenUsageKeys>(buildTokenUsageKeys, MAX_ENTRIES);
  private readonly accountUsageCache = new PairCache<AccountUsageKeys>(buildAccountUsageKeys, MAX_ENTRIES);
  private readonly costCache = new PairCache<CostKeys>(buildCostKeys, MAX_ENTRIES);
  private readonly perKey = new BoundedMap<string, ApiKeyKeys>(MAX_IDS);
  private minuteAt = Number.NaN;
  private minuteKey = '';

  tokenUsage(keyId: string, model: string, b: Buckets): TokenUsageKeys {
    return this.tokenUsageCache.get(keyId, model, b);
  }

  accountUsage(accountId: string, model: string, b: Buckets): AccountUsageKeys {
    return this.accountUsageCache.get(accountId, model, b);
  }

  cost(keyId: string, b: Buckets): CostKeys {
    return this.costCache.get(keyId, '', b);
  }

  apiKey(keyId: string): ApiKeyKeys {
    return (
      this.perKey.get(keyId) ??
      this.perKey.set(keyId, { key: keys.apiKey(keyId), legacyKey: keys.apiKeyLegacy(keyId), hashMap: keys.apiKeyHashMap(), records: keys.usageRecords(keyId) })
    );
  }

  /** keys.systemMetricsMinute(minute), the last one kept. */
  systemMetricsMinute(minute: number): string {
    if (minute !== this.minuteAt) {
      this.minuteKey = keys.systemMetricsMinute(minute);
      this.minuteAt = minute;
    }
    return this.minuteKey;
  }
}
