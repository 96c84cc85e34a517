import type { Redis } from 'ioredis';
import type { ApiKeyAuthenticator } from '../../auth/authenticate-api-key.js';
import type { PricingTable } from '../../pricing/pricing-table.js';
import type { Clock } from '../../runtime/clock.js';
import { AccountRepository } from '../../storage/accounts.js';
import { dateString, keys, weekString } from '../../storage/keys.js';
import { loadUsageStats, type UsageStats } from '../key-info/usage-stats.js';
import type { RouteCall } from '../shared/legacy-route.js';
import { claudeAccountOverview, openaiAccountOverview } from './claude-overview.js';
import { bodyField, errors, modelStatsScope, UUID_RE } from './key-lookup.js';
import { scanKeys } from '../../storage/scan-keys.js';
import { formatCost, modelCost } from './model-cost.js';

/**
 * POST /apiStats/api/get-key-id, /user-stats, /user-model-stats (src/routes/apiStats.js):
 * the public self-service pages. Responses keep the legacy's key order and number formats.
 */
export interface StatsDeps {
  redis: Redis;
  clock: Clock;
  auth: ApiKeyAuthenticator;
  accounts: AccountRepository;
  pricing: () => PricingTable;
}

type Reply = { status: number; body: Record<string, unknown> };

const int0 = (v: unknown): number => Number.parseInt(String(v ?? ''), 10) || 0;
const float0 = (v: unknown): number => Number.parseFloat(String(v ?? '')) || 0;

export async function getKeyId(d: StatsDeps, call: RouteCall): Promise<Reply> {
  try {
    const apiKey = bodyField(call, 'apiKey');
    if (!apiKey) return { status: 400, body: { error: 'API Key is required', message: 'Please provide your API Key' } };
    if (typeof apiKey !== 'string' || apiKey.length < 10 || apiKey.length > 512) return errors.invalidFormat;
    const v = await d.auth.validate(apiKey, { forStats: true });
    if (!v.valid) return errors.invalidKey(v.error);
    return { status: 200, body: { success: true, data: { id: v.key.record.id } } };
  } catch {
    return { status: 500, body: { error: 'Internal server error', message: 'Failed to retrieve API key ID' } };
  }
}

/** The key as user-stats sees it, whichever way it was looked up. */
interface StatsKey {
  id: string;
  raw: Record<string, string>;
  usage: UsageStats;
  tokenLimit: number;
  concurrencyLimit: number;
  rateLimitWindow: number;
  rateLimitRequests: number;
  rateLimitCost: unknown;
  dailyCostLimit: number;
  totalCostLimit: number;
  weeklyOpusCostLimit: unknown;
  permissions: string;
  isActivated: boolean;
  activationDays: number;
  activatedAt: string | null;
  expirationMode: string;
  enableModelRestriction: boolean;
  restrictedModels: unknown[];
  enableClientRestriction: boolean;
  allowedClients: unknown[];
  fuel: { balance: unknown; entries: unknown; nextExpiresAtMs: unknown; usedDaily: unknown; usedTotal: unknown };
  billableDailyCost?: number;
  billableTotalCost?: number;
}

const jsonList = (s: string | undefined): unknown[] => {
  try {
    const v: unknown = s ? JSON.parse(s) : [];
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
};

async function lookupById(d: StatsDeps, apiId: unknown): Promise<{ key: StatsKey } | { reply: Reply }> {
  if (typeof apiId !== 'string' || !UUID_RE.test(apiId)) return { reply: errors.invalidApiId };
  const raw = await d.auth.repo.getById(apiId);
  if (!raw || Object.keys(raw).length === 0) return { reply: errors.keyIdNotFound };
  if (raw.isActive !== 'true') return { reply: errors.disabledById(raw.name) };
  const usage = await loadUsageStats(d.redis, d.clock, apiId);
  return {
    key: {
      id: apiId,
      raw,
      usage,
      tokenLimit: int0(raw.tokenLimit),
      concurrencyLimit: int0(raw.concurrencyLimit),
      rateLimitWindow: int0(raw.rateLimitWindow),
      rateLimitRequests: int0(raw.rateLimitRequests),
      rateLimitCost: raw.rateLimitCost,
      dailyCostLimit: float0(raw.dailyCostLimit),
      totalCostLimit: float0(raw.totalCostLimit),
      weeklyOpusCostLimit: raw.weeklyOpusCostLimit,
      permissions: raw.permissions || 'all',
      isActivated: raw.isActivated === 'true',
      activationDays: Number.parseInt(raw.activationDays || '0', 10),
      activatedAt: raw.activatedAt || null,
      expirationMode: raw.expirationMode || 'fixed',
      enableModelRestriction: raw.enableModelRestriction === 'true',
      restrictedModels: jsonList(raw.restrictedModels),
      enableClientRestriction: raw.enableClientRestriction === 'true',
      allowedClients: jsonList(raw.allowedClients),
      fuel: { balance: raw.fuelBalance, entries: raw.fuelEntries, nextExpiresAtMs: raw.fuelNextExpiresAtMs, usedDaily: undefined, usedTotal: undefined },
    },
  };
}

async function lookupByKey(d: StatsDeps, apiKey: unknown): Promise<{ key: StatsKey } | { reply: Reply }> {
  if (typeof apiKey !== 'string' || apiKey.length < 10 || apiKey.length > 512) return { reply: errors.invalidFormat };
  const v = await d.auth.validate(apiKey, { forStats: true });
  if (!v.valid) return { reply: errors.invalidKey(v.error) };
  const k = v.key;
  const p = k.parsed;
  const usage = await loadUsageStats(d.redis, d.clock, k.record.id);
  return {
    key: {
      id: k.record.id,
      raw: k.record,
      usage,
      tokenLimit: p.tokenLimit,
      concurrencyLimit: p.concurrencyLimit,
      rateLimitWindow: p.rateLimitWindow,
      rateLimitRequests: p.rateLimitRequests,
      rateLimitCost: p.rateLimitCost,
      dailyCostLimit: p.dailyCostLimit,
      totalCostLimit: p.totalCostLimit,
      weeklyOpusCostLimit: p.weeklyOpusCostLimit,
      permissions: p.permissions,
      isActivated: k.record.isActivated === 'true',
      activationDays: Number.parseInt(k.record.activationDays || '0', 10),
      activatedAt: k.record.activatedAt || null,
      expirationMode: k.record.expirationMode || 'fixed',
      enableModelRestriction: p.enableModelRestriction,
      restrictedModels: p.restrictedModels,
      enableClientRestriction: p.enableClientRestriction,
      allowedClients: p.allowedClients,
      fuel: { balance: p.fuelBalance, entries: p.fuelEntries, nextExpiresAtMs: p.fuelNextExpiresAtMs, usedDaily: k.costs.fuelUsedDaily, usedTotal: k.costs.fuelUsedTotal },
      billableDailyCost: k.billableDailyCost,
      billableTotalCost: k.billableTotalCost,
    },
  };
}

/** Sum of per-model costs over every monthly model bucket (the stats page's total cost). */
async function totalModelCost(d: StatsDeps, key: StatsKey): Promise<{ total: number; formatted: string }> {
  const table = d.pricing();
  const fallback = () => {
    const t = key.usage.total;
    return modelCost(
      table,
      { input_tokens: t.inputTokens || 0, output_tokens: t.outputTokens || 0, cache_creation_input_tokens: t.cacheCreateTokens || 0, cache_read_input_tokens: t.cacheReadTokens || 0 },
      'claude-3-5-sonnet-20241022',
    );
  };
  try {
    const names = await scanKeys(d.redis, `usage:${key.id}:model:monthly:*:*`);
    const perModel = new Map<string, { i: number; o: number; cc: number; cr: number }>();
    for (const name of names) {
      const m = /usage:.+:model:monthly:(.+):(\d{4}-\d{2})$/.exec(name);
      if (!m) continue;
      const data = await d.redis.hgetall(name);
      if (Object.keys(data).length === 0) continue;
      const acc = perModel.get(m[1]!) ?? { i: 0, o: 0, cc: 0, cr: 0 };
      acc.i += int0(data.inputTokens);
      acc.o += int0(data.outputTokens);
      acc.cc += int0(data.cacheCreateTokens);
      acc.cr += int0(data.cacheReadTokens);
      perModel.set(m[1]!, acc);
    }
    let total = 0;
    for (const [model, u] of perModel) {
      total += modelCost(table, { input_tokens: u.i, output_tokens: u.o, cache_creation_input_tokens: u.cc, cache_read_input_tokens: u.cr }, model).costs.total;
    }
    if (perModel.size === 0 && key.usage.total.allTokens > 0) total = fallback().costs.total;
    return { total, formatted: formatCost(total) };
  } catch {
    if (key.usage.total.allTokens > 0) {
      const c = fallback();
      return { total: c.costs.total, formatted: c.formatted.total };
    }
    return { total: 0, formatted: '$0.000000' };
  }
}

export async function userStats(d: StatsDeps, call: RouteCall): Promise<Reply> {
  try {
    const apiId = bodyField(call, 'apiId');
    const apiKey = bodyField(call, 'apiKey');
    let found: { key: StatsKey } | { reply: Reply };
    if (apiId) found = await lookupById(d, apiId);
    else if (apiKey) found = await lookupByKey(d, apiKey);
    else return errors.keyOrIdRequired;
    if ('reply' in found) return found.reply;
    const key = found.key;
    const raw = key.raw;
    const now = d.clock.now();

    const cost = await totalModelCost(d, key);

    let currentWindowRequests = 0;
    let currentWindowTokens = 0;
    let currentWindowCost = 0;
    let currentDailyCost = 0;
    let windowStartTime: number | null = null;
    let windowEndTime: number | null = null;
    let windowRemainingSeconds: number | null = null;
    try {
      if (key.rateLimitWindow > 0) {
        const [req, tok, c, start] = await d.redis.mget(
          keys.rateLimitRequests(key.id),
          keys.rateLimitTokens(key.id),
          keys.rateLimitCost(key.id),
          keys.rateLimitWindowStart(key.id),
        );
        currentWindowRequests = Number.parseInt(req || '0', 10);
        currentWindowTokens = Number.parseInt(tok || '0', 10);
        currentWindowCost = Number.parseFloat(c || '0');
        if (start) {
          windowStartTime = Number.parseInt(start, 10);
          windowEndTime = windowStartTime + key.rateLimitWindow * 60 * 1000;
          if (now < windowEndTime) windowRemainingSeconds = Math.max(0, Math.floor((windowEndTime - now) / 1000));
          else {
            windowStartTime = null;
            windowEndTime = null;
            windowRemainingSeconds = 0;
            currentWindowRequests = 0;
            currentWindowTokens = 0;
            currentWindowCost = 0;
          }
        }
      }
      currentDailyCost = Number.parseFloat((await d.redis.get(keys.costDaily(key.id, dateString(now, d.clock.timezoneOffsetHours)))) || '0');
    } catch {
      /* the legacy logs and keeps the zeros */
    }

    const details: Record<string, unknown> = {};
    if (raw.claudeAccountId) {
      try {
        const account = await d.accounts.get('claude', raw.claudeAccountId);
        if (account && Object.keys(account).length > 0) {
          const overview = claudeAccountOverview(account, now);
          if (overview.accountType === 'dedicated') details.claude = overview;
        }
      } catch {
        /* overview failures are logged and skipped */
      }
    }

    if (raw.openaiAccountId) {
      try {
        const account = await d.accounts.get('openai', raw.openaiAccountId);
        if (account && Object.keys(account).length > 0) {
          const overview = openaiAccountOverview(account, now);
          if (overview.accountType === 'dedicated') details.openai = overview;
        }
      } catch {
        /* overview failures are logged and skipped */
      }
    }

    const weeklyOpus = Number.parseFloat(
      (await d.redis.get(keys.opusWeekly(key.id, weekString(now, d.clock.timezoneOffsetHours)))) || '0',
    );
    const nextMs = key.fuel.nextExpiresAtMs;
    const data = {
      id: key.id,
      name: raw.name,
      description: raw.description || '',
      isActive: true,
      createdAt: raw.createdAt,
      expiresAt: raw.expiresAt,
      expirationMode: key.expirationMode,
      isActivated: key.isActivated,
      activationDays: key.activationDays,
      activatedAt: key.activatedAt,
      permissions: key.permissions,
      usage: { total: { ...key.usage.total, cost: cost.total, formattedCost: cost.formatted } },
      fuel: {
        balance: float0(key.fuel.balance),
        entries: int0(key.fuel.entries),
        nextExpiresAtMs: int0(key.fuel.nextExpiresAtMs),
        nextExpiresAt: nextMs && Number(nextMs) > 0 ? new Date(Number(nextMs)).toISOString() : '',
        usedDaily: float0(key.fuel.usedDaily),
        usedTotal: float0(key.fuel.usedTotal),
      },
      limits: {
        tokenLimit: key.tokenLimit || 0,
        concurrencyLimit: key.concurrencyLimit || 0,
        rateLimitWindow: key.rateLimitWindow || 0,
        rateLimitRequests: key.rateLimitRequests || 0,
        rateLimitCost: float0(key.rateLimitCost),
        dailyCostLimit: key.dailyCostLimit || 0,
        totalCostLimit: key.totalCostLimit || 0,
        weeklyOpusCostLimit: float0(key.weeklyOpusCostLimit),
        currentWindowRequests,
        currentWindowTokens,
        currentWindowCost,
        currentDailyCost: key.billableDailyCost !== undefined ? Number(key.billableDailyCost) || 0 : currentDailyCost,
        currentTotalCost: key.billableTotalCost !== undefined ? Number(key.billableTotalCost) || 0 : cost.total,
        weeklyOpusCost: weeklyOpus || 0,
        windowStartTime,
        windowEndTime,
        windowRemainingSeconds,
      },
      accounts: {
        claudeAccountId: raw.claudeAccountId ? raw.claudeAccountId : null,
        geminiAccountId: raw.geminiAccountId ? raw.geminiAccountId : null,
        openaiAccountId: raw.openaiAccountId ? raw.openaiAccountId : null,
        details: Object.keys(details).length > 0 ? details : null,
      },
      restrictions: {
        enableModelRestriction: key.enableModelRestriction || false,
        restrictedModels: key.restrictedModels || [],
        enableClientRestriction: key.enableClientRestriction || false,
        allowedClients: key.allowedClients || [],
      },
    };
    return { status: 200, body: { success: true, data } };
  } catch {
    return { status: 500, body: { error: 'Internal server error', message: 'Failed to retrieve API key statistics' } };
  }
}

export async function userModelStats(d: StatsDeps, call: RouteCall): Promise<Reply> {
  try {
    const apiId = bodyField(call, 'apiId');
    const apiKey = bodyField(call, 'apiKey');
    const periodRaw = bodyField(call, 'period');
    const period = periodRaw === undefined ? 'monthly' : periodRaw;
    let keyId: string;
    if (apiId) {
      if (typeof apiId !== 'string' || !UUID_RE.test(apiId)) return errors.invalidApiId;
      const raw = await d.auth.repo.getById(apiId);
      if (!raw || Object.keys(raw).length === 0) return errors.keyIdNotFound;
      if (raw.isActive !== 'true') return errors.disabledById(raw.name);
      keyId = apiId;
    } else if (apiKey) {
      // the legacy uses the full validateApiKey here: it activates activation-mode keys
      const v = await d.auth.validate(String(apiKey));
      if (!v.valid) return errors.invalidKey(v.error);
      keyId = v.key.record.id;
    } else return errors.keyOrIdRequired;

    const scope = modelStatsScope(d.clock, period);
    const names = await scanKeys(d.redis, scope.pattern(keyId));
    const re = scope.re;
    const table = d.pricing();
    const stats: Array<Record<string, unknown> & { allTokens: number }> = [];
    for (const name of names) {
      const m = re.exec(name);
      if (!m) continue;
      const data = await d.redis.hgetall(name);
      if (Object.keys(data).length === 0) continue;
      const usage = {
        input_tokens: int0(data.inputTokens),
        output_tokens: int0(data.outputTokens),
        cache_creation_input_tokens: int0(data.cacheCreateTokens),
        cache_read_input_tokens: int0(data.cacheReadTokens),
      };
      const c = modelCost(table, usage, m[1]!);
      stats.push({
        model: m[1]!,
        requests: int0(data.requests),
        inputTokens: usage.input_tokens,
        outputTokens: usage.output_tokens,
        cacheCreateTokens: usage.cache_creation_input_tokens,
        cacheReadTokens: usage.cache_read_input_tokens,
        allTokens: int0(data.allTokens),
        costs: c.costs,
        formatted: c.formatted,
        pricing: c.pricing,
      });
    }
    stats.sort((a, b) => b.allTokens - a.allTokens);
    return { status: 200, body: { success: true, data: stats, period } };
  } catch {
    return { status: 500, body: { error: 'Internal server error', message: 'Failed to retrieve model statistics' } };
  }
}
