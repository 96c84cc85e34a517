import { dateString, hourString, keys, monthString } from '../../storage/keys.js';
import { loadUsageStats } from '../key-info/usage-stats.js';
import type { RouteCall } from '../shared/legacy-route.js';
import type { StatsDeps } from './handlers.js';
import { bodyField, modelStatsScope, UUID_RE } from './key-lookup.js';
import { scanKeys } from '../../storage/scan-keys.js';
import { formatCost, modelCost } from './model-cost.js';

/** POST /apiStats/api/batch-stats and /batch-model-stats (src/routes/apiStats.js). */
type Reply = { status: number; body: Record<string, unknown> };

const int0 = (v: unknown): number => Number.parseInt(String(v ?? ''), 10) || 0;

function checkIds(apiIds: unknown): Reply | null {
  if (!apiIds || !Array.isArray(apiIds) || apiIds.length === 0) return { status: 400, body: { error: 'Invalid input', message: 'API IDs array is required' } };
  if (apiIds.length > 30) return { status: 400, body: { error: 'Too many keys', message: 'Maximum 30 API keys can be queried at once' } };
  return null;
}

const emptyTotals = () => ({ requests: 0, inputTokens: 0, outputTokens: 0, cacheCreateTokens: 0, cacheReadTokens: 0, allTokens: 0, cost: 0, formattedCost: '$0.000000' });

export async function batchStats(d: StatsDeps, call: RouteCall): Promise<Reply> {
  try {
    const apiIds = bodyField(call, 'apiIds');
    const bad = checkIds(apiIds);
    if (bad) return bad;
    const ids = apiIds as unknown[];
    const invalid = ids.filter((id) => !UUID_RE.test(String(id)));
    if (invalid.length > 0) return { status: 400, body: { error: 'Invalid API ID format', message: `Invalid API IDs: ${invalid.join(', ')}` } };

    const aggregated = { totalKeys: ids.length, activeKeys: 0, usage: emptyTotals(), dailyUsage: emptyTotals(), monthlyUsage: emptyTotals() };
    const now = d.clock.now();
    const offset = d.clock.timezoneOffsetHours;
    const results = await Promise.allSettled(
      ids.map(async (rawId) => {
        const apiId = String(rawId);
        const keyData = await d.auth.repo.getById(apiId);
        if (!keyData || Object.keys(keyData).length === 0) return null;
        if (keyData.isActive !== 'true') return null;
        if (keyData.expiresAt && now > new Date(keyData.expiresAt).getTime()) return null;
        const usage = await loadUsageStats(d.redis, d.clock, apiId);
        const [daily, monthly, , total] = await d.redis.mget(
          keys.costDaily(apiId, dateString(now, offset)),
          keys.costMonthly(apiId, monthString(now, offset)),
          keys.costHourly(apiId, hourString(now, offset)),
          keys.costTotal(apiId),
        );
        const cost = (v: string | null | undefined) => Number.parseFloat(v || "0");
        return {
          apiId,
          name: keyData.name,
          usage: usage.total,
          dailyStats: { ...usage.daily, cost: cost(daily) },
          monthlyStats: { ...usage.monthly, cost: cost(monthly) },
          totalCost: cost(total),
        };
      }),
    );
    const individual: unknown[] = [];
    for (const r of results) {
      if (r.status !== 'fulfilled' || !r.value) continue;
      const s = r.value;
      aggregated.activeKeys++;
      const add = (into: ReturnType<typeof emptyTotals>, from: Record<string, number>) => {
        into.requests += from.requests || 0;
        into.inputTokens += from.inputTokens || 0;
        into.outputTokens += from.outputTokens || 0;
        into.cacheCreateTokens += from.cacheCreateTokens || 0;
        into.cacheReadTokens += from.cacheReadTokens || 0;
        into.allTokens += from.allTokens || 0;
      };
      add(aggregated.usage, s.usage as unknown as Record<string, number>);
      aggregated.usage.cost += s.totalCost || 0;
      add(aggregated.dailyUsage, s.dailyStats as unknown as Record<string, number>);
      aggregated.dailyUsage.cost += s.dailyStats.cost || 0;
      add(aggregated.monthlyUsage, s.monthlyStats as unknown as Record<string, number>);
      aggregated.monthlyUsage.cost += s.monthlyStats.cost || 0;
      individual.push({
        apiId: s.apiId,
        name: s.name,
        isActive: true,
        usage: s.usage,
        dailyUsage: { ...s.dailyStats, formattedCost: formatCost(s.dailyStats.cost || 0) },
        monthlyUsage: { ...s.monthlyStats, formattedCost: formatCost(s.monthlyStats.cost || 0) },
      });
    }
    aggregated.usage.formattedCost = formatCost(aggregated.usage.cost);
    aggregated.dailyUsage.formattedCost = formatCost(aggregated.dailyUsage.cost);
    aggregated.monthlyUsage.formattedCost = formatCost(aggregated.monthlyUsage.cost);
    return { status: 200, body: { success: true, data: { aggregated, individual } } };
  } catch {
    return { status: 500, body: { error: 'Internal server error', message: 'Failed to retrieve batch statistics' } };
  }
}

export async function batchModelStats(d: StatsDeps, call: RouteCall): Promise<Reply> {
  try {
    const apiIds = bodyField(call, 'apiIds');
    const bad = checkIds(apiIds);
    if (bad) return bad;
    const periodRaw = bodyField(call, 'period');
    const period = periodRaw === undefined ? 'daily' : periodRaw;
    const scope = modelStatsScope(d.clock, period);
    const re = scope.re;
    const perModel = new Map<string, { requests: number; inputTokens: number; outputTokens: number; cacheCreateTokens: number; cacheReadTokens: number; allTokens: number }>();
    // concurrent per key, like the legacy (its interleaving decides the order of equal-token models)
    await Promise.all(
      (apiIds as unknown[]).map(async (apiId) => {
        const names = await scanKeys(d.redis, scope.pattern(String(apiId)));
        for (const name of names) {
          const m = re.exec(name);
          if (!m) continue;
          const data = await d.redis.hgetall(name);
          if (Object.keys(data).length === 0) continue;
          let u = perModel.get(m[1]!);
          if (!u) {
            u = { requests: 0, inputTokens: 0, outputTokens: 0, cacheCreateTokens: 0, cacheReadTokens: 0, allTokens: 0 };
            perModel.set(m[1]!, u);
          }
          u.requests += int0(data.requests);
          u.inputTokens += int0(data.inputTokens);
          u.outputTokens += int0(data.outputTokens);
          u.cacheCreateTokens += int0(data.cacheCreateTokens);
          u.cacheReadTokens += int0(data.cacheReadTokens);
          u.allTokens += int0(data.allTokens);
        }
      }),
    );
    const table = d.pricing();
    const stats = [...perModel].map(([model, u]) => {
      const c = modelCost(
        table,
        { input_tokens: u.inputTokens, output_tokens: u.outputTokens, cache_creation_input_tokens: u.cacheCreateTokens, cache_read_input_tokens: u.cacheReadTokens },
        model,
      );
      return { model, ...u, costs: c.costs, formatted: c.formatted, pricing: c.pricing };
    });
    stats.sort((a, b) => b.allTokens - a.allTokens);
    return { status: 200, body: { success: true, data: stats, period } };
  } catch {
    return { status: 500, body: { error: 'Internal server error', message: 'Failed to retrieve batch model statistics' } };
  }
}
