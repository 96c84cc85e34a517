import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { dateString, keys, weekString } from '../storage/keys.js';
import { createApiKeyAuthenticator } from './authenticate-api-key.js';
import { BROWSER_FALLBACK_UA } from './browser-fallback.js';
import { fakeRequest, storeKey, testDeps, suiteRedis } from './auth-test-kit.test-helper.js';
import type { AuthResult } from './types.js';

const redisOf = suiteRedis();
let redis: Redis;
beforeEach(() => {
  redis = redisOf();
});

const MODELS = '/api/v1/models';
const rejected = (r: AuthResult) => {
  if (r.ok || r.abandoned) throw new Error(`expected a rejection, got ${JSON.stringify(r)}`);
  return { status: r.status, body: r.body, headers: r.headers };
};

describe('authenticateApiKey: key states (auth-and-keys.md §3 / §3.1)', () => {
  it('missing key → 401 Missing API key', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    expect(rejected(await auth.authenticate(fakeRequest(MODELS)))).toEqual({
      status: 401,
      headers: [],
      body: { error: 'Missing API key', message: 'Please provide an API key in the x-api-key, x-goog-api-key, or Authorization header' },
    });
  });

  it('too short / too long → 401 Invalid API key format', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    for (const k of ['cr_1234', `cr_${'a'.repeat(510)}`]) {
      expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k }))).body).toEqual({
        error: 'Invalid API key format',
        message: 'API key format is invalid',
      });
    }
  });

  it('wrong prefix, unknown key, disabled, soft-deleted, expired → 401 with the validation message', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const disabled = await storeKey(redis, { isActive: 'false' });
    const deleted = await storeKey(redis, { isActive: 'false', isDeleted: 'true', deletedAt: '2026-11-20T00:00:00.000Z' });
    const expired = await storeKey(redis, { expiresAt: '2026-11-25T00:00:00.000Z' });
    const cases: Array<[string, string]> = [
      ['sk-0123456789abcdef', 'Invalid API key format'],
      [`cr_${'0'.repeat(64)}`, 'API key not found'],
      [disabled.raw, 'API key is disabled'],
      [deleted.raw, 'API key is disabled'],
      [expired.raw, 'API key has expired'],
    ];
    for (const [k, message] of cases) {
      expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k })))).toEqual({
        status: 401,
        headers: [],
        body: { error: 'Invalid API key', message },
      });
    }
  });

  it('activation-mode key is activated on first use (fields, expiry in days or hours, TTL)', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const days = await storeKey(redis, { expirationMode: 'activation', isActivated: 'false', activatedAt: '', activationDays: '' });
    const hours = await storeKey(redis, { expirationMode: 'activation', isActivated: 'false', activatedAt: '', activationDays: '6', activationUnit: 'hours' });
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': days.raw }))).ok).toBe(true);
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': hours.raw }))).ok).toBe(true);
    const now = deps.clock.now();
    const d = await redis.hgetall(keys.apiKey(days.id));
    expect(d.isActivated).toBe('true');
    expect(d.activatedAt).toBe(new Date(now).toISOString());
    expect(d.lastUsedAt).toBe(new Date(now).toISOString());
    expect(d.expiresAt).toBe(new Date(now + 30 * 86_400_000).toISOString());
    expect((await redis.hgetall(keys.apiKey(hours.id))).expiresAt).toBe(new Date(now + 6 * 3_600_000).toISOString());
    expect(await redis.ttl(keys.apiKey(days.id))).toBe(31_536_000);
    // once the activation period is over the key expires
    deps.clock.advance(7 * 3_600_000);
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': hours.raw }))).body.message).toBe('API key has expired');
  });

  it('a key owned by a missing or disabled user is refused; an active user passes', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const orphan = await storeKey(redis, { userId: 'u-missing' });
    const inactive = await storeKey(redis, { userId: 'u-off' });
    const active = await storeKey(redis, { userId: 'u-on' });
    await redis.set(keys.user('u-off'), JSON.stringify({ id: 'u-off', isActive: false }));
    await redis.set(keys.user('u-on'), JSON.stringify({ id: 'u-on', isActive: true }));
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': orphan.raw }))).body.message).toBe('User account is disabled');
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': inactive.raw }))).body.message).toBe('User account is disabled');
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': active.raw }))).ok).toBe(true);
    const corrupt = await storeKey(redis, { userId: 'u-bad' });
    await redis.set(keys.user('u-bad'), '{not json');
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': corrupt.raw }))).body.message).toBe('Unable to validate user status');
  });
});

describe('authenticateApiKey: extraction and browser fallback', () => {
  it('takes candidates in priority order, strips Bearer from any of them, falls back to ?key=', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis);
    const ok = async (req: ReturnType<typeof fakeRequest>) => (await auth.authenticate(req)).ok;
    expect(await ok(fakeRequest(MODELS, { authorization: `Bearer   ${k.raw}` }))).toBe(true);
    expect(await ok(fakeRequest(MODELS, { 'x-goog-api-key': `bearer ${k.raw}` }))).toBe(true);
    expect(await ok(fakeRequest(MODELS, { 'api-key': k.raw }))).toBe(true);
    expect(await ok(fakeRequest(`${MODELS}?key=${k.raw}`))).toBe(true);
    // x-api-key wins over authorization even when it is wrong
    const req = fakeRequest(MODELS, { 'x-api-key': `cr_${'0'.repeat(64)}`, authorization: `Bearer ${k.raw}` });
    expect(rejected(await auth.authenticate(req)).body.message).toBe('API key not found');
    // a blank x-api-key moves on to the next candidate; the winner is written back to x-api-key
    const req2 = fakeRequest(MODELS, { 'x-api-key': '   ', authorization: `Bearer ${k.raw}` });
    expect(await ok(req2)).toBe(true);
    expect(req2.headers['x-api-key']).toBe(k.raw);
  });

  it('browser / Chrome-extension requests with a cr_ key pass as Claude Code', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { enableClientRestriction: 'true', allowedClients: '["claude_code"]' });
    const req = fakeRequest(MODELS, { 'user-agent': 'Mozilla/5.0 (X11) Chrome/120.0 Safari/537.36', 'x-api-key': k.raw });
    expect((await auth.authenticate(req)).ok).toBe(true);
    expect(req.headers['user-agent']).toBe(BROWSER_FALLBACK_UA);
    expect(req.headers.authorization).toBe(`Bearer ${k.raw}`);
    expect(req.headers['anthropic-version']).toBe('2023-06-01');
    expect(req.headers['anthropic-dangerous-direct-browser-access']).toBe('true');
  });
});

describe('authenticateApiKey: client restriction and the Claude-Code-only gate', () => {
  it('403 Client not allowed with the allowed list; count_tokens paths skip it', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { enableClientRestriction: 'true', allowedClients: '["gemini_cli","unknown_client"]' });
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw, 'user-agent': 'curl/8' })))).toEqual({
      status: 403,
      headers: [],
      body: { error: 'Client not allowed', message: 'Your client is not authorized to use this API key', allowedClients: ['gemini_cli', 'unknown_client'] },
    });
    expect((await auth.authenticate(fakeRequest('/api/v1/messages/count_tokens', { 'x-api-key': k.raw }))).ok).toBe(true);
    expect((await auth.authenticate(fakeRequest('/gemini/v1beta/models', { 'x-api-key': k.raw }))).ok).toBe(true);
  });

  it('claude_code: UA alone on non-messages paths; messages needs prompt, headers and user_id', async () => {
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis, { enableClientRestriction: 'true', allowedClients: '["claude_code"]' });
    const ua = { 'x-api-key': k.raw, 'user-agent': 'claude-cli/2.0.1 (external, cli)' };
    expect((await auth.authenticate(fakeRequest(MODELS, ua))).ok).toBe(true);
    const body = {
      model: 'claude-sonnet-4-5-20250929',
      system: [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." }],
      metadata: { user_id: `user_${'a'.repeat(64)}_account__session_1234-abcd` },
    };
    const headers = { ...ua, 'x-app': 'cli', 'anthropic-beta': 'claude-code-20250219', 'anthropic-version': '2023-06-01' };
    expect((await auth.authenticate(fakeRequest('/api/v1/messages', headers), { body })).ok).toBe(true);
    const noUser = { ...body, metadata: {} };
    expect(rejected(await auth.authenticate(fakeRequest('/api/v1/messages', headers), { body: noUser })).body.error).toBe('Client not allowed');
    const otherPrompt = { ...body, system: [{ type: 'text', text: 'You are a pirate. Talk like one at all times, matey.' }] };
    expect(rejected(await auth.authenticate(fakeRequest('/api/v1/messages', headers), { body: otherPrompt })).status).toBe(403);
  });

  it('global claudeCodeOnlyEnabled rejects non-Claude-Code clients on /api|/claude …/v1/messages only', async () => {
    await redis.set(keys.claudeRelayConfig(), JSON.stringify({ claudeCodeOnlyEnabled: true }));
    const auth = createApiKeyAuthenticator(testDeps(redis));
    const k = await storeKey(redis);
    expect(rejected(await auth.authenticate(fakeRequest('/claude/v1/messages', { 'x-api-key': k.raw, 'user-agent': 'curl/8' }), { body: {} }))).toEqual({
      status: 403,
      headers: [],
      body: { error: { type: 'client_validation_error', message: 'This endpoint only accepts requests from Claude Code CLI' } },
    });
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw, 'user-agent': 'curl/8' }))).ok).toBe(true);
    expect((await auth.authenticate(fakeRequest('/api/v1/messages/count_tokens', { 'x-api-key': k.raw }))).ok).toBe(true);
  });
});

describe('authenticateApiKey: rate-limit window and cost limits', () => {
  it('request limit: counts every authenticated request, then 429 with reset info; keys with PX', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const k = await storeKey(redis, { rateLimitWindow: '10', rateLimitRequests: '2' });
    const ok1 = await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw }));
    expect(ok1.ok && ok1.rateLimit?.currentRequests).toBe(1);
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw }))).ok).toBe(true);
    expect(await redis.get(keys.rateLimitRequests(k.id))).toBe('2');
    expect(await redis.get(keys.rateLimitWindowStart(k.id))).toBe(String(deps.clock.now()));
    const pttl = await redis.pttl(keys.rateLimitTokens(k.id));
    expect(pttl).toBeGreaterThan(590_000);
    expect(pttl).toBeLessThanOrEqual(600_000);
    deps.clock.advance(61_000);
    const reset = new Date(deps.clock.now() - 61_000 + 600_000).toISOString();
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw })))).toEqual({
      status: 429,
      headers: [],
      body: {
        error: 'Rate limit exceeded',
        message: '已达到请求次数限制 (2 次)，将在 9 分钟后重置',
        currentRequests: 2,
        requestLimit: 2,
        resetAt: reset,
        remainingMinutes: 9,
      },
    });
    // a new window starts once the old one is over
    deps.clock.advance(600_000);
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw }))).ok).toBe(true);
  });

  it('token limit wins over cost limit; cost limit applies without tokens; active fuel bypasses cost', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const tok = await storeKey(redis, { rateLimitWindow: '5', tokenLimit: '100', rateLimitCost: '0.5' });
    const cost = await storeKey(redis, { rateLimitWindow: '5', rateLimitCost: '0.5' });
    const fuel = await storeKey(redis, { rateLimitWindow: '5', rateLimitCost: '0.5', fuelBalance: '3', fuelNextExpiresAtMs: String(deps.clock.now() + 86_400_000) });
    for (const k of [tok, cost, fuel]) await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw }));
    await redis.set(keys.rateLimitTokens(tok.id), '150');
    await redis.set(keys.rateLimitCost(tok.id), '9');
    await redis.set(keys.rateLimitCost(cost.id), '0.75');
    await redis.set(keys.rateLimitCost(fuel.id), '0.75');
    const t = rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': tok.raw })));
    expect(t.body.message).toBe('已达到 Token 使用限制 (100 tokens)，将在 5 分钟后重置');
    expect(t.body.currentTokens).toBe(150);
    const c = rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': cost.raw })));
    expect(Object.keys(c.body)).toEqual(['error', 'message', 'currentCost', 'costLimit', 'resetAt', 'remainingMinutes']);
    expect(c.body.message).toBe('已达到费用限制 ($0.5)，将在 5 分钟后重置');
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': fuel.raw }))).ok).toBe(true);
  });

  it('daily, total and weekly-Opus cost limits (billable = cost − fuel used)', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const now = deps.clock.now();
    const today = dateString(now, 8);
    const daily = await storeKey(redis, { dailyCostLimit: '1' });
    const dailyFuelUsed = await storeKey(redis, { dailyCostLimit: '1' });
    const total = await storeKey(redis, { totalCostLimit: '5' });
    const opus = await storeKey(redis, { weeklyOpusCostLimit: '2' });
    await redis.set(keys.costDaily(daily.id, today), '1.000001');
    await redis.set(keys.costDaily(dailyFuelUsed.id, today), '1.5');
    await redis.set(keys.fuelUsedDaily(dailyFuelUsed.id, today), '1');
    await redis.set(keys.costTotal(total.id), '5');
    await redis.set(keys.opusWeekly(opus.id, weekString(now, 8)), '2.5');

    const d = rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': daily.raw })));
    const midnight = new Date(now);
    midnight.setHours(24, 0, 0, 0);
    expect(d).toEqual({
      status: 429,
      headers: [],
      body: { error: 'Daily cost limit exceeded', message: '已达到每日费用限制 ($1)', currentCost: 1.000001, costLimit: 1, resetAt: midnight.toISOString() },
    });
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': dailyFuelUsed.raw }))).ok).toBe(true);
    expect(rejected(await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': total.raw }))).body).toEqual({
      error: 'Total cost limit exceeded',
      message: '已达到总费用限制 ($5)',
      currentCost: 5,
      costLimit: 5,
    });
    expect((await auth.authenticate(fakeRequest('/api/v1/messages', { 'x-api-key': opus.raw }), { body: { model: 'claude-sonnet-4-5' } })).ok).toBe(true);
    const o = rejected(await auth.authenticate(fakeRequest('/api/v1/messages', { 'x-api-key': opus.raw }), { body: { model: 'Claude-Opus-4-1' } }));
    expect(o.body.error).toBe('Weekly Opus cost limit exceeded');
    expect(o.body.message).toBe('已达到 Opus 模型周费用限制 ($2)');
    expect(new Date(o.body.resetAt as string).getDay()).toBe(1);
    // a non-string model makes the legacy's toLowerCase throw: 500 Authentication error
    expect(rejected(await auth.authenticate(fakeRequest('/api/v1/messages', { 'x-api-key': opus.raw }), { body: { model: 42 } })).status).toBe(500);
  });

  it('expired fuel-pack entries are dropped from the wallet during validation (refreshWallet)', async () => {
    const deps = testDeps(redis);
    const auth = createApiKeyAuthenticator(deps);
    const past = deps.clock.now() - 1000;
    const k = await storeKey(redis, { fuelBalance: '5', fuelEntries: '1', fuelNextExpiresAtMs: String(past) });
    await redis.zadd(keys.fuelWalletIndex(k.id), past, 'e1');
    await redis.hset(keys.fuelWalletEntry('e1'), 'amountRemaining', '5');
    expect((await auth.authenticate(fakeRequest(MODELS, { 'x-api-key': k.raw }))).ok).toBe(true);
    const h = await redis.hgetall(keys.apiKey(k.id));
    expect([h.fuelBalance, h.fuelEntries, h.fuelNextExpiresAtMs]).toEqual(['0', '0', '0']);
    expect(await redis.exists(keys.fuelWalletEntry('e1'))).toBe(0);
  });
});
