import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { createClaudeMessagesModule } from '../relay-claude/messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, serveRelay } from '../relay-claude/relay-harness.test-helper.js';
import { startReceiver, type Receiver } from './webhook-receiver.test-helper.js';

/** A Console account answered 401 by its upstream: the legacy's webhook arrives, the client's answer is the same as without webhooks. */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const TRACE = '07-messages-nonstream-console';
const fx = useRelayFixture({ trace: TRACE, atMs: AT });
const before = JSON.parse(readFileSync(join(legacyTracesDir, TRACE, 'redis.before.json'), 'utf8')) as RedisSnapshot;
const unauthorized = JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });

let upstream: Receiver;
let rx: Receiver;
beforeAll(async () => {
  upstream = await startReceiver();
  rx = await startReceiver();
});
afterAll(async () => {
  await rx.close();
  await upstream.close();
});

async function relay(webhooks?: boolean) {
  upstream.script.push({ status: 401, body: unauthorized });
  const h = await serveRelay(createClaudeMessagesModule, fx.redis, { atMs: AT, upstreamOverride: upstream.url, ...(webhooks !== undefined ? { webhooks } : {}) });
  try {
    const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] });
    const res = await send(h.port, 'POST', '/api/v1/messages', [['x-api-key', KEYS.console], ['content-type', 'application/json']], body);
    return { status: res.status, body: res.body.toString('utf8'), headers: res.rawHeaders.filter((l) => !/^date:/i.test(l)) };
  } finally {
    await h.close();
  }
}

describe('relay → webhook', () => {
  it('Console 401: CLAUDE_CONSOLE_UNAUTHORIZED reaches the configured custom and slack hooks; the client response is unchanged', async () => {
    const without = await relay();
    expect(rx.received).toEqual([]);

    // same recorded state again, now with the operator's webhook config
    const h = fx.redis;
    await loadRedisSnapshot(h, before);
    const webhookConfig = JSON.stringify({
      enabled: true,
      platforms: [
        { id: 'p1', type: 'custom', name: 'ops', url: `${rx.url}/hook`, enabled: true, timeout: 10000 },
        { id: 'p2', type: 'slack', url: `${rx.url}/slack`, enabled: true },
      ],
      notificationTypes: { accountAnomaly: true },
      retrySettings: { maxRetries: 3, retryDelay: 1000, timeout: 10000 },
    });
    await h.set('webhook_config:default', webhookConfig);

    // a shadow candidate (webhooks: false) marks the account the same way but never notifies
    const candidate = await relay(false);
    expect(candidate).toEqual(without);
    expect(await h.hget(`claude_console_account:${CONSOLE_ACCOUNT}`, 'status')).toBe('unauthorized');
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.received).toEqual([]);
    await loadRedisSnapshot(h, before);
    await h.set('webhook_config:default', webhookConfig);

    const withHooks = await relay();
    expect(withHooks).toEqual(without);
    expect(withHooks.status).toBe(401);
    expect(upstream.received).toHaveLength(3);
    expect(await h.hget(`claude_console_account:${CONSOLE_ACCOUNT}`, 'status')).toBe('unauthorized');

    const got = await rx.waitFor(2);
    const custom = got.find((r) => r.url === '/hook')!;
    expect(custom.body).toBe(
      JSON.stringify({
        type: 'accountAnomaly',
        service: 'claude-relay-service',
        timestamp: '2026-11-26T19:52:04+08:00',
        data: {
          accountId: CONSOLE_ACCOUNT,
          accountName: 'lab-console',
          platform: 'claude-console',
          status: 'error',
          errorCode: 'CLAUDE_CONSOLE_UNAUTHORIZED',
          reason: 'API Key无效或已过期（401错误），账户已停止调度',
          timestamp: '2026-11-26T11:52:04.000Z',
        },
      }),
    );
    expect(JSON.parse(got.find((r) => r.url === '/slack')!.body)).toEqual({
      text: `*⚠️ 账号异常通知*\n**账号**: lab-console\n**平台**: claude-console\n**状态**: error\n**错误代码**: CLAUDE_CONSOLE_UNAUTHORIZED\n**原因**: API Key无效或已过期（401错误），账户已停止调度`,
      username: 'Claude Relay Service',
      icon_emoji: ':warning:',
    });
  });
});
