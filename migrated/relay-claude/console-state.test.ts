import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, serveRelay } from './relay-harness.test-helper.js';

/** The Console relay's account-state writes for 400 "account disabled" and 429 (claudeConsoleRelayService). */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const KEY = `claude_console_account:${CONSOLE_ACCOUNT}`;
const fx = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT });

let answer: { status: number; body: string } = { status: 200, body: '{}' };
let upstream: Server;
let upstreamUrl: string;
beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});
afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

async function relay(env: Record<string, string>, stream: boolean) {
  const h = await serveRelay(createClaudeMessagesModule, fx.redis, { atMs: AT, upstreamOverride: upstreamUrl, env });
  try {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, stream, messages: [{ role: 'user', content: 'x' }] });
    return await send(h.port, 'POST', '/api/v1/messages', [['x-api-key', KEYS.console], ['content-type', 'application/json']], body);
  } finally {
    await h.close();
  }
}

const disabled = { status: 400, body: JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'This account has been disabled' } }) };

describe('Console relay: account state on 400 "disabled" and 429', () => {
  for (const stream of [false, true]) {
    it(`400 account disabled with CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES=10 blocks the account (${stream ? 'stream' : 'non-stream'})`, async () => {
      answer = disabled;
      const res = await relay({ CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES: '10' }, stream);
      expect(res.status).toBe(400);
      expect(await fx.redis.hgetall(KEY)).toMatchObject({ blockedStatus: 'blocked', blockedAt: new Date(AT).toISOString(), status: 'account_blocked', isActive: 'false', schedulable: 'false', blockedAutoStopped: 'true' });
    });
  }

  it('400 account disabled without the setting: no block (the default)', async () => {
    answer = disabled;
    await relay({}, false);
    const after = await fx.redis.hgetall(KEY);
    expect(after['blockedStatus']).toBeUndefined();
    expect(after['isActive']).toBe('true');
  });

  it('429 on an account at its daily quota: quota stop first, then the rate-limit marks', async () => {
    answer = { status: 429, body: JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }) };
    await fx.redis.hset(KEY, 'dailyQuota', '1');
    await fx.redis.hset(`account_usage:daily:${CONSOLE_ACCOUNT}:2026-11-26`, 'cost', '1.5');
    await relay({}, false);
    expect(await fx.redis.hgetall(KEY)).toMatchObject({
      quotaStoppedAt: new Date(AT).toISOString(),
      rateLimitStatus: 'limited',
      rateLimitAutoStopped: 'true',
      status: 'rate_limited',
      isActive: 'false',
      schedulable: 'false',
    });
  });
});
