import { describe, expect, it } from 'vitest';
import { sessionUuid, transformConsoleBody, transformOfficialBody, enforceCacheControlLimit, rewriteSessionUserId } from './request-transform.js';
import { traceRequest, traceUpstream } from './trace-fixtures.test-helper.js';

const noLimit = (): undefined => undefined;
const account = { id: '7ddd352c-bc47-4d4c-a73b-f5b5ccf5ec9f' };

describe('official body transform reproduces the recorded upstream bodies', () => {
  for (const name of ['04-messages-nonstream-oauth-first', '06-messages-stream-oauth', '12-count-tokens-oauth', '23-upstream-529-oauth', '36-upstream-500-oauth']) {
    it(name, () => {
      const client = JSON.parse(traceRequest(name).body) as Record<string, unknown>;
      const out = JSON.stringify(transformOfficialBody(client, account, noLimit));
      expect(out).toBe(traceUpstream(name)[0]!.bodyRaw);
    });
  }
});

describe('console body transform', () => {
  for (const name of ['07-messages-nonstream-console', '08-messages-stream-console', '10-claude-code-style-stream-pool', '13-count-tokens-console']) {
    it(`${name}: body forwarded byte-identical`, () => {
      const raw = traceRequest(name).body;
      expect(JSON.stringify(transformConsoleBody(JSON.parse(raw) as Record<string, unknown>, {}))).toBe(traceUpstream(name)[0]!.bodyRaw);
    });
  }
  it('maps the model exactly, then case-insensitively, and keeps key position', () => {
    const mapping = { 'claude-x': 'upstream-x', 'Claude-Y': 'upstream-y' };
    expect(transformConsoleBody({ a: 1, model: 'claude-x', b: 2 }, mapping)).toEqual({ a: 1, model: 'upstream-x', b: 2 });
    expect(JSON.stringify(transformConsoleBody({ a: 1, model: 'claude-y' }, mapping))).toBe('{"a":1,"model":"upstream-y"}');
    expect(transformConsoleBody({ model: 'other' }, mapping)['model']).toBe('other');
    expect(transformConsoleBody({ model: 'claude-x' }, ['claude-x'])['model']).toBe('claude-x');
  });
});

describe('official transform details', () => {
  it('clamps max_tokens to the pricing limit, only downwards', () => {
    const limit = (m: string) => (m === 'claude-sonnet-4-5-20250929' ? 64000 : undefined);
    const body = { model: 'claude-sonnet-4-5-20250929', max_tokens: 100000, messages: [] };
    expect(transformOfficialBody(body, account, limit)['max_tokens']).toBe(64000);
    expect(transformOfficialBody({ ...body, max_tokens: 10 }, account, limit)['max_tokens']).toBe(10);
    expect(transformOfficialBody({ ...body, model: 'unknown' }, account, limit)['max_tokens']).toBe(100000);
  });

  it('string system different from the prompt becomes [prompt, original]; top_p removed; ttl stripped', () => {
    const out = transformOfficialBody(
      { model: 'm', system: 'Be brief.', top_p: 0.9, messages: [{ role: 'user', content: [{ type: 'text', text: 'x', cache_control: { type: 'ephemeral', ttl: '1h' } }] }] },
      account,
      noLimit,
    );
    expect(out['top_p']).toBeUndefined();
    expect(out['system']).toEqual([
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'Be brief.' },
    ]);
    expect(JSON.stringify(out['messages'])).toBe('[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}]');
  });

  it('a real Claude Code body keeps its system untouched', () => {
    const system = [
      { type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral' } },
      { type: 'text', text: 'more' },
    ];
    expect(transformOfficialBody({ model: 'm', system, messages: [] }, account, noLimit)['system']).toEqual(system);
  });

  it('moves the prompt to the front of an array system that lacks it at position 0', () => {
    const out = transformOfficialBody(
      { model: 'm', system: [{ type: 'text', text: 'first' }], messages: [] },
      account,
      noLimit,
    );
    expect((out['system'] as Array<{ text: string }>).map((s) => s.text)).toEqual([
      "You are Claude Code, Anthropic's official CLI for Claude.",
      'first',
    ]);
  });

  it('drops cache_control beyond four, messages first in order, system last', () => {
    const cc = () => ({ type: 'ephemeral' });
    const body = {
      system: [{ type: 'text', text: 's', cache_control: cc() }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'a', cache_control: cc() }, { type: 'text', text: 'b', cache_control: cc() }] },
        { role: 'user', content: [{ type: 'text', text: 'c', cache_control: cc() }, { type: 'text', text: 'd', cache_control: cc() }, { type: 'text', text: 'e', cache_control: cc() }] },
      ],
    };
    enforceCacheControlLimit(body);
    const flags = body.messages.flatMap((m) => m.content.map((c) => 'cache_control' in c));
    expect(flags).toEqual([false, false, true, true, true]);
    expect('cache_control' in body.system[0]!).toBe(true);
  });

  it('rewrites metadata.user_id deterministically per account, folding in extInfo.account_uuid', () => {
    const userId = `user_${'ab'.repeat(32)}_account__session_11111111-2222-4333-8444-555555555555`;
    const body: Record<string, unknown> = { metadata: { user_id: userId, other: 1 } };
    rewriteSessionUserId(body, { id: 'acc-1' });
    const hashed = sessionUuid('acc-1', '11111111-2222-4333-8444-555555555555');
    expect(hashed).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(body['metadata']).toEqual({ user_id: `user_${'ab'.repeat(32)}_account__session_${hashed}`, other: 1 });

    const withUuid: Record<string, unknown> = { metadata: { user_id: userId } };
    rewriteSessionUserId(withUuid, { id: 'acc-1', extInfo: '{"account_uuid":"U-1"}' });
    expect((withUuid['metadata'] as { user_id: string }).user_id).toBe(`user_${'ab'.repeat(32)}_account_U-1_session_${hashed}`);

    const noMarker: Record<string, unknown> = { metadata: { user_id: 'user_x_session_' } };
    rewriteSessionUserId(noMarker, { id: 'acc-1', extInfo: '{"account_uuid":"U"}' });
    expect((noMarker['metadata'] as { user_id: string }).user_id).toBe(`user_x_account_U_session_${sessionUuid('acc-1', 'default')}`);
  });
});
