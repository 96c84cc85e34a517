import { describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { BEDROCK_ID, CCR_ID, POOL_KEY_ID, bedrockAccount, headerOf, storeBedrock, storeCcr } from '../relay-bedrock/provider-accounts.test-helper.js';
import createClaudeCountTokensModule from '../relay-claude/count-tokens-module.js';
import { KEYS } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { sessionHashOf } from '../scheduler/session-hash.js';

/**
 * POST /api/v1/messages/count_tokens (and /claude) when the scheduled account is CCR or Bedrock:
 * the legacy route schedules (CCR from its own pool for `ccr,` models, writing the sticky mapping)
 * and then answers 501 not_supported without any upstream call or usage (routes/api.js count_tokens).
 */
const f = useRelayFixture({
  trace: '07-messages-nonstream-console',
  atMs: Date.parse('2026-11-26T11:52:04.000Z'),
  seed: async (redis) => {
    await storeCcr(redis);
    await storeBedrock(redis);
  },
});

const headers: Array<[string, string]> = [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', KEYS.pool],
  ['content-type', 'application/json'],
];
const notSupported = (what: string) => JSON.stringify({ error: { type: 'not_supported', message: `Token counting is not supported for ${what} accounts` } });
const mapping = (body: Record<string, unknown>) => f.redis.get(`unified_claude_session_mapping:${sessionHashOf(body)}`);

/** Sends a count_tokens request and returns the response with the upstream requests and usage keys it caused. */
async function countTokens(path: string, body: Record<string, unknown>) {
  return f.withRelay(createClaudeCountTokensModule, async (h) => {
    const seq = f.mark();
    const usageBefore = (await f.redis.keys('usage:*')).sort();
    const res = await send(h.port, 'POST', path, headers, JSON.stringify(body));
    const usageAfter = (await f.redis.keys('usage:*')).sort();
    return { res, upstream: f.upstreamAfter(seq), newUsageKeys: usageAfter.filter((k) => !usageBefore.includes(k)) };
  });
}

describe('count_tokens on CCR accounts', () => {
  it('ccr,<model>: scheduled from the CCR pool (sticky mapping written), then 501 not_supported; no upstream call, no usage, no lastUsedAt', async () => {
    const body = { model: 'ccr,claude-sonnet-4-5', messages: [{ role: 'user', content: 'count me via ccr' }] };
    const { res, upstream, newUsageKeys } = await countTokens('/api/v1/messages/count_tokens', body);
    expect(res.status).toBe(501);
    expect(res.body.toString()).toBe(notSupported('CCR'));
    expect(headerOf(res, 'content-type')).toBe('application/json; charset=utf-8');
    expect(upstream).toEqual([]);
    expect(newUsageKeys).toEqual([]);
    expect(await mapping(body)).toBe(JSON.stringify({ accountId: CCR_ID, accountType: 'ccr' }));
    expect(await f.redis.hget(`ccr_account:${CCR_ID}`, 'lastUsedAt')).toBe('');
  });

  it('ccr,<model> with no usable CCR account: the scheduler error lands in the catch-all 500', async () => {
    await storeCcr(f.redis, { isActive: 'false' });
    const body = { model: 'ccr,claude-sonnet-4-5', messages: [{ role: 'user', content: 'no ccr left' }] };
    const { res, upstream } = await countTokens('/claude/v1/messages/count_tokens', body);
    expect(res.status).toBe(500);
    expect(res.body.toString()).toBe(JSON.stringify({ error: { type: 'server_error', message: 'Failed to count tokens' } }));
    expect(upstream).toEqual([]);
    expect(await mapping(body)).toBeNull();
  });
});

describe('count_tokens on Bedrock accounts', () => {
  it('key bound to a Bedrock account: 501 not_supported, nothing sent upstream, no usage', async () => {
    await f.redis.hset(`apikey:${POOL_KEY_ID}`, 'bedrockAccountId', BEDROCK_ID);
    const { res, upstream, newUsageKeys } = await countTokens('/api/v1/messages/count_tokens', { model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'bound bedrock' }] });
    expect(res.status).toBe(501);
    expect(res.body.toString()).toBe(notSupported('Bedrock'));
    expect(upstream).toEqual([]);
    expect(newUsageKeys).toEqual([]);
  });

  it('Bedrock picked from the shared pool (best priority): the mapping is written before the 501, like the legacy scheduler', async () => {
    await storeBedrock(f.redis, bedrockAccount({ priority: 1 }));
    const body = { model: 'claude-sonnet-4-20250514', messages: [{ role: 'user', content: 'pool bedrock' }] };
    const { res, upstream } = await countTokens('/claude/v1/messages/count_tokens', body);
    expect(res.status).toBe(501);
    expect(res.body.toString()).toBe(notSupported('Bedrock'));
    expect(upstream).toEqual([]);
    expect(await mapping(body)).toBe(JSON.stringify({ accountId: BEDROCK_ID, accountType: 'bedrock' }));
  });
});
