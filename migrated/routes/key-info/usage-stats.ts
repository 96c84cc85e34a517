import type { Redis } from 'ioredis';
import type { Clock } from '../../runtime/clock.js';
import { dateString, keys, monthString } from '../../storage/keys.js';

/**
 * redis.getUsageStats + apiKeyService.getUsageStats (http-surface.md §7.7, exchange 17):
 * total / daily / monthly token counters (with the legacy-data fallback), averages over the
 * key's age, and optionally the newest usage records.
 */
export interface UsageBucket {
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  allTokens: number;
  requests: number;
}

export interface UsageStats {
  total: UsageBucket;
  daily: UsageBucket;
  monthly: UsageBucket;
  averages: { rpm: number; tpm: number; dailyRequests: number; dailyTokens: number };
  recentRecords?: unknown[];
}

const int = (v: string | undefined): number => Number.parseInt(v ?? '', 10) || 0;

function bucket(data: Record<string, string>): UsageBucket {
  const tokens = int(data.totalTokens) || int(data.tokens);
  const inputTokens = int(data.totalInputTokens) || int(data.inputTokens);
  const outputTokens = int(data.totalOutputTokens) || int(data.outputTokens);
  const requests = int(data.totalRequests) || int(data.requests);
  const cacheCreateTokens = int(data.totalCacheCreateTokens) || int(data.cacheCreateTokens);
  const cacheReadTokens = int(data.totalCacheReadTokens) || int(data.cacheReadTokens);
  const allTokens = int(data.totalAllTokens) || int(data.allTokens);
  const actualAll = allTokens || inputTokens + outputTokens + cacheCreateTokens + cacheReadTokens;
  if (inputTokens + outputTokens === 0 && tokens > 0) {
    // data from before the input/output split
    return {
      tokens,
      inputTokens: Math.round(tokens * 0.3),
      outputTokens: Math.round(tokens * 0.7),
      cacheCreateTokens: 0,
      cacheReadTokens: 0,
      allTokens: tokens,
      requests,
    };
  }
  return { tokens: actualAll, inputTokens, outputTokens, cacheCreateTokens, cacheReadTokens, allTokens: actualAll, requests };
}

const DAY_MS = 1000 * 60 * 60 * 24;

export async function loadUsageStats(
  redis: Redis,
  clock: Clock,
  keyId: string,
  opts: { records?: number } = {},
): Promise<UsageStats> {
  const now = clock.now();
  const today = dateString(now, clock.timezoneOffsetHours);
  const month = monthString(now, clock.timezoneOffsetHours);
  const p = redis.pipeline();
  p.hgetall(keys.usageTotal(keyId));
  p.hgetall(keys.usageDaily(keyId, today));
  p.hgetall(keys.usageMonthly(keyId, month));
  p.hget(keys.apiKey(keyId), 'createdAt');
  if (opts.records) p.lrange(keys.usageRecords(keyId), 0, Math.max(0, opts.records - 1));
  const res = (await p.exec()) ?? [];
  const failed = res.find(([err]) => err);
  if (failed) throw failed[0];
  const total = (res[0]?.[1] ?? {}) as Record<string, string>;
  const daily = (res[1]?.[1] ?? {}) as Record<string, string>;
  const monthly = (res[2]?.[1] ?? {}) as Record<string, string>;
  const createdAtRaw = res[3]?.[1] as string | null;
  const createdMs = createdAtRaw ? new Date(createdAtRaw).getTime() : now;
  const days = Math.max(1, Math.ceil((now - createdMs) / DAY_MS));
  const totalTokens = int(total.totalTokens);
  const totalRequests = int(total.totalRequests);
  const minutes = Math.max(1, days * 24 * 60);
  const stats: UsageStats = {
    total: bucket(total),
    daily: bucket(daily),
    monthly: bucket(monthly),
    averages: {
      rpm: Math.round((totalRequests / minutes) * 100) / 100,
      tpm: Math.round((totalTokens / minutes) * 100) / 100,
      dailyRequests: Math.round((totalRequests / days) * 100) / 100,
      dailyTokens: Math.round((totalTokens / days) * 100) / 100,
    },
  };
  if (opts.records) {
    const raw = (res[4]?.[1] ?? []) as string[];
    const records: unknown[] = [];
    for (const entry of raw) {
      try {
        const parsed: unknown = JSON.parse(entry);
        if (parsed) records.push(parsed);
      } catch {
        /* unparsable records are dropped, as in the legacy */
      }
    }
    stats.recentRecords = records;
  }
  return stats;
}
