import { describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { createClaudeCountTokensModule } from './count-tokens-module.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, OAUTH_ACCOUNT } from './relay-harness.test-helper.js';
import { isOldSession, originalSessionId } from './session-binding.js';

const AT = Date.parse('2026-11-26T11:52:04.000Z');
const SESSION = '0f0e0d0c-1111-2222-3333-444455556666';
const BINDING = `original_session_binding:${SESSION}`;
const DEFAULT_MESSAGE = '你的本地session已污染，请清理后使用。';

const fx = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT });

const headers = (key: string): Array<[string, string]> => [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', key],
  ['content-type', 'application/json'],
];
const userId = `user_${'a'.repeat(64)}_account__session_${SESSION}`;
const firstTurn = (stream = false) =>
  JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, stream, metadata: { user_id: userId }, tools: [{ name: 't', input_schema: { type: 'object' } }], messages: [{ role: 'user', content: 'hi' }] });
const laterTurn = (stream = false) =>
  JSON.stringify({
    model: 'claude-sonnet-4-5',
    max_tokens: 10,
    stream,
    metadata: { user_id: userId },
    messages: [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'more' },
    ],
  });

async function call(key: string, body: string, config: Record<string, unknown> | null = { globalSessionBindingEnabled: true }, countTokens = false) {
  if (config) await fx.redis.set('claude_relay_config', JSON.stringify(config));
  return fx.withRelay(countTokens ? createClaudeCountTokensModule : createClaudeMessagesModule, async (h) => {
    const seq = fx.mark();
    const res = await send(h.port, 'POST', countTokens ? '/api/v1/messages/count_tokens' : '/api/v1/messages', headers(key), body);
    return { status: res.status, body: res.body.toString(), upstreamCalls: fx.upstreamAfter(seq).length };
  });
}

const bind = (accountId: string, accountType: string) =>
  fx.redis.set(BINDING, JSON.stringify({ accountId, accountType, createdAt: '2026-11-20T00:00:00.000Z', lastUsedAt: '2026-11-20T00:00:00.000Z' }), 'EX', 1000);

describe('originalSessionId / isOldSession (claudeRelayConfigService, api.js)', () => {
  it('the uuid after session_ at the end of metadata.user_id', () => {
    expect(originalSessionId({ metadata: { user_id: userId } })).toBe(SESSION);
    expect(originalSessionId({ metadata: { user_id: `x_session_${SESSION.toUpperCase()}` } })).toBe(SESSION.toUpperCase());
    expect(originalSessionId({ metadata: { user_id: `${userId}x` } })).toBeNull();
    expect(originalSessionId({ metadata: {} })).toBeNull();
    expect(() => originalSessionId({ metadata: { user_id: 5 } })).toThrow('userId.match is not a function');
  });

  it('old: several messages, or one without tools; system reminders do not count as input', () => {
    const tools = [{ name: 't' }];
    expect(isOldSession({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }], tools })).toBe(true);
    expect(isOldSession({ messages: [{ role: 'user', content: 'a' }] })).toBe(true);
    expect(isOldSession({ messages: [{ role: 'user', content: 'a' }], tools })).toBe(false);
    expect(isOldSession({ messages: [{ role: 'user', content: [{ type: 'text', text: '  <system-reminder>x' }, { type: 'text', text: 'q' }] }], tools })).toBe(false);
    expect(isOldSession({ messages: [{ role: 'user', content: [{ type: 'text', text: 'p' }, { type: 'text', text: 'q' }] }], tools })).toBe(true);
    expect(isOldSession({ messages: [{ role: 'user', content: [{ type: 'image' }] }] })).toBe(false);
    expect(isOldSession({ messages: [] })).toBe(false);
    expect(() => isOldSession({ messages: [{ role: 'user', content: [null] }] })).toThrow(TypeError);
  });
});

describe('global session binding on /v1/messages', () => {
  it('off (default): no binding written, even for a session id', async () => {
    const r = await call(KEYS.oauth, firstTurn(), null);
    expect(r.status).toBe(200);
    expect(await fx.redis.exists(BINDING)).toBe(0);
  });

  it('a new session scheduled on an official account is bound (JSON fields, TTL from sessionBindingTtlDays)', async () => {
    const r = await call(KEYS.oauth, firstTurn(), { globalSessionBindingEnabled: true, sessionBindingTtlDays: 2 });
    expect(r.status).toBe(200);
    const iso = new Date(AT).toISOString();
    expect(await fx.redis.get(BINDING)).toBe(JSON.stringify({ accountId: OAUTH_ACCOUNT, accountType: 'claude-official', createdAt: iso, lastUsedAt: iso }));
    expect(await fx.redis.ttl(BINDING)).toBe(2 * 86400);
  });

  it('a new session scheduled on a Console account is not bound', async () => {
    const r = await call(KEYS.console, firstTurn());
    expect(r.status).toBe(200);
    expect(await fx.redis.exists(BINDING)).toBe(0);
  });

  for (const stream of [false, true]) {
    it(`a new session that already looks old: 400 session_binding_error, nothing upstream (${stream ? 'stream' : 'non-stream'})`, async () => {
      const r = await call(KEYS.oauth, laterTurn(stream));
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body)).toEqual({ error: { type: 'session_binding_error', message: DEFAULT_MESSAGE } });
      expect(r.upstreamCalls).toBe(0);
      expect(await fx.redis.exists(BINDING)).toBe(0);
    });
  }

  it('a bound session on a usable account goes on; the binding gets a new lastUsedAt and the full TTL', async () => {
    await bind(OAUTH_ACCOUNT, 'claude-official');
    const r = await call(KEYS.oauth, laterTurn());
    expect(r.status).toBe(200);
    expect(r.upstreamCalls).toBe(1);
    expect(JSON.parse((await fx.redis.get(BINDING))!)).toEqual({ accountId: OAUTH_ACCOUNT, accountType: 'claude-official', createdAt: '2026-11-20T00:00:00.000Z', lastUsedAt: new Date(AT).toISOString() });
    expect(await fx.redis.ttl(BINDING)).toBe(30 * 86400);
  });

  it('bound account in error status: 403 with the configured message, nothing upstream', async () => {
    await bind(OAUTH_ACCOUNT, 'claude-official');
    await fx.redis.hset(`claude:account:${OAUTH_ACCOUNT}`, 'status', 'error');
    const r = await call(KEYS.oauth, laterTurn(true), { globalSessionBindingEnabled: true, sessionBindingErrorMessage: 'bound account gone' });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: { type: 'session_binding_error', message: 'bound account gone' } });
    expect(r.upstreamCalls).toBe(0);
  });

  it('bound account temporarily unavailable: 403 from the scheduler (SESSION_BINDING_ACCOUNT_UNAVAILABLE)', async () => {
    await bind(OAUTH_ACCOUNT, 'claude-official');
    await fx.redis.set(`temp_unavailable:claude-official:${OAUTH_ACCOUNT}`, '1', 'EX', 300);
    const r = await call(KEYS.oauth, laterTurn());
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: { type: 'session_binding_error', message: DEFAULT_MESSAGE } });
    expect(r.upstreamCalls).toBe(0);
  });

  it('a binding to a Console account is ignored (not touched, not enforced)', async () => {
    await bind(CONSOLE_ACCOUNT, 'claude-console');
    const before = await fx.redis.get(BINDING);
    const r = await call(KEYS.console, laterTurn());
    expect(r.status).toBe(200);
    expect(await fx.redis.get(BINDING)).toBe(before);
    expect(await fx.redis.ttl(BINDING)).toBeLessThanOrEqual(1000);
  });
});

describe('global session binding on count_tokens (validated, never created nor forced)', () => {
  it('an old-looking new session and an unusable bound account are refused with 400', async () => {
    const old = await call(KEYS.oauth, laterTurn(), { globalSessionBindingEnabled: true }, true);
    expect(old.status).toBe(400);
    expect(JSON.parse(old.body)).toEqual({ error: { type: 'session_binding_error', message: DEFAULT_MESSAGE } });
    await bind(OAUTH_ACCOUNT, 'claude-official');
    await fx.redis.hset(`claude:account:${OAUTH_ACCOUNT}`, 'isActive', 'false');
    const bad = await call(KEYS.oauth, laterTurn(), { globalSessionBindingEnabled: true }, true);
    expect(bad.status).toBe(400);
    expect(bad.upstreamCalls).toBe(0);
  });

  it('a new session is counted without creating a binding; a bound one is touched', async () => {
    const fresh = await call(KEYS.oauth, firstTurn(), { globalSessionBindingEnabled: true }, true);
    expect(fresh.status).toBe(200);
    expect(await fx.redis.exists(BINDING)).toBe(0);
    await bind(OAUTH_ACCOUNT, 'claude-official');
    const bound = await call(KEYS.oauth, laterTurn(), { globalSessionBindingEnabled: true }, true);
    expect(bound.status).toBe(200);
    expect(JSON.parse((await fx.redis.get(BINDING))!).lastUsedAt).toBe(new Date(AT).toISOString());
  });

  it('off: an old-looking session is counted', async () => {
    expect((await call(KEYS.oauth, laterTurn(), null, true)).status).toBe(200);
  });
});
