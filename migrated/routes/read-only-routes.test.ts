import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { storeKey, suiteRedis } from '../auth/auth-test-kit.test-helper.js';
import { keys } from '../storage/keys.js';
import type { MigratedModuleFactory } from '../module.js';
import { createClaudeHealthModule } from './claude-health/index.js';
import { createKeyInfoModule } from './key-info/index.js';
import { createModelsModule } from './models/index.js';
import { createNotFoundModule } from './not-found/index.js';
import { createApiStatsModule } from './api-stats/index.js';
import { send, serveModule } from './shared/trace-replay.test-helper.js';

/** Paths the recorded suites do not cover, checked against the legacy's source-derived shapes. */
const redisOf = suiteRedis();
let redis: Redis;
beforeEach(() => {
  redis = redisOf();
});

const AT = Date.parse('2026-11-26T04:00:00.000Z');

async function call(factory: MigratedModuleFactory, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const h = await serveModule(factory, redis, AT);
  try {
    const res = await send(h.port, method, path, [['Host', '127.0.0.1:3000'], ...Object.entries(headers)], body);
    const text = res.body.toString('utf8');
    return { status: res.status, raw: res.rawHeaders, text, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  } finally {
    await h.close();
  }
}

describe('models module', () => {
  it('blacklisted ids are dropped from /api/v1/models; droid and azure lists carry milliseconds', async () => {
    const k = await storeKey(redis, { enableModelRestriction: 'true', restrictedModels: '["claude-opus-4-20250514","gpt-5-codex"]' });
    const all = await call(createModelsModule, 'GET', '/claude/v1/models/', { 'x-api-key': k.raw });
    const ids = (all.json!.data as Array<{ id: string; created: number }>).map((m) => m.id);
    expect(ids).toHaveLength(18);
    expect(ids).not.toContain('claude-opus-4-20250514');
    expect((all.json!.data as Array<{ created: number }>)[0]!.created).toBe(AT / 1000);
    const droid = await call(createModelsModule, 'GET', '/droid/claude/v1/models', { 'x-api-key': k.raw });
    expect(droid.json).toEqual({
      object: 'list',
      data: [
        { id: 'claude-opus-4-1-20250805', object: 'model', created: AT, owned_by: 'anthropic' },
        { id: 'claude-sonnet-4-5-20250929', object: 'model', created: AT, owned_by: 'anthropic' },
        { id: 'gpt-5-2025-08-07', object: 'model', created: AT, owned_by: 'openai' },
      ],
    });
    const azure = await call(createModelsModule, 'GET', '/azure/models', { 'x-api-key': k.raw });
    expect((azure.json!.data as Array<{ id: string }>).map((m) => m.id).slice(0, 2)).toEqual(['azure/gpt-4', 'azure/gpt-4-turbo']);
  });

  it('/openai/claude: permission check, blacklisted detail → 404, known detail created 1736726400', async () => {
    const gem = await storeKey(redis, { permissions: 'gemini' });
    const denied = await call(createModelsModule, 'GET', '/openai/claude/v1/models', { authorization: `Bearer ${gem.raw}` });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe('{"error":{"message":"This API key does not have permission to access Claude","type":"permission_denied","code":"permission_denied"}}');
    const k = await storeKey(redis, { enableModelRestriction: 'true', restrictedModels: '["claude-opus-4-20250514"]' });
    const hidden = await call(createModelsModule, 'GET', '/openai/claude/v1/models/claude-opus-4-20250514', { 'x-api-key': k.raw });
    expect(hidden.status).toBe(404);
    expect(hidden.json).toEqual({ error: { message: "Model 'claude-opus-4-20250514' not found", type: 'invalid_request_error', code: 'model_not_found' } });
    const detail = await call(createModelsModule, 'GET', '/openai/claude/v1/models/claude-sonnet-4-20250514', { 'x-api-key': k.raw });
    expect(detail.text).toBe('{"id":"claude-sonnet-4-20250514","object":"model","created":1736726400,"owned_by":"anthropic","permission":[],"root":"claude-sonnet-4-20250514","parent":null}');
    const unknown = await call(createModelsModule, 'GET', '/openai/claude/v1/models/no-such-model-xyz', { 'x-api-key': k.raw });
    expect((unknown.json as { created: number }).created).toBe(AT / 1000);
  });
});

describe('key-info module', () => {
  it('/v1/me, /v1/organizations/:id/usage, /v1/usage', async () => {
    const k = await storeKey(redis, { name: 'me-key', tokenLimit: '500' });
    const me = await call(createKeyInfoModule, 'GET', '/api/v1/me', { 'x-api-key': k.raw });
    expect(me.text).toBe(`{"id":"user_${k.id}","type":"user","display_name":"me-key","created_at":"${new Date(AT).toISOString()}"}`);
    const org = await call(createKeyInfoModule, 'GET', '/claude/v1/organizations/org-1/usage', { 'x-api-key': k.raw });
    expect(org.text).toBe('{"object":"usage","data":[{"type":"credit_balance","credit_balance":500}]}');
    const usage = await call(createKeyInfoModule, 'GET', '/api/v1/usage', { 'x-api-key': k.raw });
    expect(Object.keys(usage.json!)).toEqual(['usage', 'limits', 'timestamp']);
    expect(usage.json!.limits).toEqual({ tokens: 500, requests: 0 });
    expect(Object.keys(usage.json!.usage as object)).toEqual(['total', 'daily', 'monthly', 'averages', 'recentRecords']);
  });

  it('an empty tokenLimit is NaN in the legacy and serialises as null', async () => {
    const k = await storeKey(redis, { tokenLimit: '' });
    const info = await call(createKeyInfoModule, 'GET', '/api/v1/key-info', { 'x-api-key': k.raw });
    expect((info.json!.keyInfo as Record<string, unknown>).tokenLimit).toBeNull();
  });

  it('/openai/key-info (no description) and /gemini/key-info (concurrency, model restrictions), usage from the counters', async () => {
    const k = await storeKey(redis, { description: 'secret', tokenLimit: '1000', concurrencyLimit: '0', rateLimitWindow: '5', rateLimitRequests: '7' });
    await redis.hset(keys.usageTotal(k.id), 'totalInputTokens', '100', 'totalOutputTokens', '20', 'totalAllTokens', '150', 'totalRequests', '3');
    const o = await call(createKeyInfoModule, 'GET', '/openai/key-info', { 'x-api-key': k.raw });
    expect(Object.keys(o.json!)).toEqual(['id', 'name', 'permissions', 'token_limit', 'tokens_used', 'tokens_remaining', 'rate_limit', 'usage']);
    expect(o.json!.tokens_used).toBe(150);
    expect(o.json!.tokens_remaining).toBe(850);
    expect(o.json!.rate_limit).toEqual({ window: 5, requests: 7 });
    const g = await call(createKeyInfoModule, 'GET', '/gemini/key-info', { 'x-api-key': k.raw });
    expect(Object.keys(g.json!)).toEqual(['id', 'name', 'permissions', 'token_limit', 'tokens_used', 'tokens_remaining', 'rate_limit', 'concurrency_limit', 'model_restrictions']);
    const u = await call(createKeyInfoModule, 'GET', '/openai/usage', { 'x-api-key': k.raw });
    expect(u.text).toBe('{"object":"usage","total_tokens":150,"total_requests":3,"daily_tokens":0,"daily_requests":0,"monthly_tokens":0,"monthly_requests":0}');
  });
});

describe('claude-health, not-found, api-stats', () => {
  it('no active official account → 503 unhealthy', async () => {
    await redis.hset(keys.account('claude', 'a1'), 'id', 'a1', 'isActive', 'true', 'status', 'error');
    const r = await call(createClaudeHealthModule, 'GET', '/claude/health');
    expect(r.status).toBe(503);
    expect(r.text).toBe(`{"status":"unhealthy","service":"claude-relay-service","version":"1.0.0","healthy":false,"activeAccounts":0,"totalAccounts":1,"timestamp":"${new Date(AT).toISOString()}"}`);
  });

  it('404 names the original URL with its query; a malformed JSON body gets the 400 first', async () => {
    const r = await call(createNotFoundModule, 'DELETE', '/api/v1/models?x=1');
    expect(r.status).toBe(404);
    expect(r.json!.message).toBe('Route /api/v1/models?x=1 not found');
    const bad = await call(createNotFoundModule, 'POST', '/nope', { 'content-type': 'application/json' }, '{"a":');
    expect(bad.status).toBe(400);
    expect(bad.json!.error).toBe('Internal Server Error');
  });

  it('user-model-stats by key activates an activation-mode key; get-key-id does not', async () => {
    const k = await storeKey(redis, { expirationMode: 'activation', isActivated: 'false', activatedAt: '', activationDays: '3' });
    const id = await call(createApiStatsModule, 'POST', '/apiStats/api/get-key-id', { 'content-type': 'application/json' }, JSON.stringify({ apiKey: k.raw }));
    expect(id.text).toBe(`{"success":true,"data":{"id":"${k.id}"}}`);
    expect(await redis.hget(keys.apiKey(k.id), 'isActivated')).toBe('false');
    await redis.hset(keys.usageKeyModelMonthly(k.id, 'claude-sonnet-4-5-20250929', '2026-11'), 'requests', '2', 'inputTokens', '1000', 'outputTokens', '100', 'allTokens', '1100');
    const stats = await call(createApiStatsModule, 'POST', '/apiStats/api/user-model-stats', { 'content-type': 'application/json' }, JSON.stringify({ apiKey: k.raw }));
    expect(stats.json!.period).toBe('monthly');
    const row = (stats.json!.data as Array<Record<string, unknown>>)[0]!;
    expect(Object.keys(row)).toEqual(['model', 'requests', 'inputTokens', 'outputTokens', 'cacheCreateTokens', 'cacheReadTokens', 'allTokens', 'costs', 'formatted', 'pricing']);
    expect(row.requests).toBe(2);
    expect(await redis.hget(keys.apiKey(k.id), 'isActivated')).toBe('true');
  });

  it('batch-stats aggregates active keys only; batch-model-stats merges models across keys', async () => {
    const a = await storeKey(redis);
    const b = await storeKey(redis, { isActive: 'false' });
    await redis.hset(keys.usageTotal(a.id), 'totalInputTokens', '10', 'totalOutputTokens', '5', 'totalAllTokens', '15', 'totalRequests', '1');
    await redis.set(keys.costTotal(a.id), '0.5');
    const post = (path: string, body: unknown) =>
      call(createApiStatsModule, 'POST', path, { 'content-type': 'application/json' }, JSON.stringify(body));
    expect((await post('/apiStats/api/batch-stats', { apiIds: [] })).json).toEqual({ error: 'Invalid input', message: 'API IDs array is required' });
    expect((await post('/apiStats/api/batch-stats', { apiIds: ['x', a.id] })).json).toEqual({ error: 'Invalid API ID format', message: 'Invalid API IDs: x' });
    const r = await post('/apiStats/api/batch-stats', { apiIds: [a.id, b.id] });
    const data = r.json!.data as { aggregated: Record<string, unknown>; individual: Array<Record<string, unknown>> };
    expect(data.aggregated.totalKeys).toBe(2);
    expect(data.aggregated.activeKeys).toBe(1);
    expect(data.aggregated.usage).toEqual({ requests: 1, inputTokens: 10, outputTokens: 5, cacheCreateTokens: 0, cacheReadTokens: 0, allTokens: 15, cost: 0.5, formattedCost: '$0.5000' });
    expect(data.individual.map((i) => i.apiId)).toEqual([a.id]);
    expect(Object.keys(data.individual[0]!)).toEqual(['apiId', 'name', 'isActive', 'usage', 'dailyUsage', 'monthlyUsage']);

    await redis.hset(keys.usageKeyModelDaily(a.id, 'claude-sonnet-4-5-20250929', '2026-11-26'), 'requests', '1', 'inputTokens', '10', 'allTokens', '10');
    await redis.hset(keys.usageKeyModelDaily(b.id, 'claude-sonnet-4-5-20250929', '2026-11-26'), 'requests', '2', 'inputTokens', '20', 'allTokens', '20');
    await redis.hset(keys.usageKeyModelDaily(b.id, 'gpt-5', '2026-11-26'), 'requests', '1', 'inputTokens', '100', 'allTokens', '100');
    const m = await post('/apiStats/api/batch-model-stats', { apiIds: [a.id, b.id] });
    expect(m.json!.period).toBe('daily');
    const rows = m.json!.data as Array<Record<string, unknown>>;
    expect(rows.map((x) => [x.model, x.requests, x.allTokens])).toEqual([
      ['gpt-5', 1, 100],
      ['claude-sonnet-4-5-20250929', 3, 30],
    ]);
  });

  it('user-stats shows the dedicated Claude and OpenAI accounts of a key (shared ones are not shown)', async () => {
    const k = await storeKey(redis, { claudeAccountId: 'c1', openaiAccountId: 'o1', geminiAccountId: 'g1' });
    await redis.hset(keys.account('claude', 'c1'), 'id', 'c1', 'accountType', 'dedicated', 'isActive', 'true', 'rateLimitStatus', 'limited', 'rateLimitedAt', '2026-11-26T03:30:00.000Z');
    await redis.hset(keys.account('openai', 'o1'), 'id', 'o1', 'accountType', 'shared', 'isActive', 'true');
    const r = await call(createApiStatsModule, 'POST', '/apiStats/api/user-stats', { 'content-type': 'application/json' }, JSON.stringify({ apiId: k.id }));
    const accounts = (r.json!.data as Record<string, unknown>).accounts as Record<string, unknown>;
    expect(accounts.claudeAccountId).toBe('c1');
    expect(accounts.geminiAccountId).toBe('g1');
    const details = accounts.details as Record<string, Record<string, unknown>>;
    expect(Object.keys(details)).toEqual(['claude']);
    expect(details.claude!.rateLimitStatus).toEqual({ isRateLimited: true, rateLimitedAt: '2026-11-26T03:30:00.000Z', minutesRemaining: 30, rateLimitEndAt: '2026-11-26T04:30:00.000Z' });
    await redis.hset(keys.account('openai', 'o1'), 'accountType', 'dedicated', 'codexUsageUpdatedAt', '2026-11-26T03:59:00.000Z', 'codexPrimaryUsedPercent', '40', 'codexPrimaryResetAfterSeconds', '120', 'scopes', 'openid email');
    const r2 = await call(createApiStatsModule, 'POST', '/apiStats/api/user-stats', { 'content-type': 'application/json' }, JSON.stringify({ apiId: k.id }));
    const openai = (((r2.json!.data as Record<string, unknown>).accounts as Record<string, unknown>).details as Record<string, Record<string, unknown>>).openai!;
    expect(openai.scopes).toEqual(['openid', 'email']);
    expect((openai.codexUsage as Record<string, Record<string, unknown>>).primary).toEqual({
      usedPercent: 40,
      resetAfterSeconds: 120,
      windowMinutes: null,
      resetAt: '2026-11-26T04:01:00.000Z',
      remainingSeconds: 60,
    });
  });
});
