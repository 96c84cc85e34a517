import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { WebhookNotifier, type AnomalyInput } from './notifier.js';
import { startReceiver, type Receiver } from './webhook-receiver.test-helper.js';
import { AgentPool } from '../upstream/agents.js';
import { startConnectProxy } from '../upstream/proxy-policy.test-helper.js';

/** Delivery against a local HTTP receiver, config from a private Redis (webhook_config:default). */
const NOW = Date.parse('2026-11-26T11:52:04.000Z');
const INPUT: AnomalyInput = { accountId: 'acc-1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_UNAUTHORIZED', reason: 'r', timestamp: '2026-11-26T11:52:04.000Z' };

let server: PrivateRedis;
let redis: Redis;
let rx: Receiver;
let logs: Array<{ level: string; obj: unknown; msg?: string | undefined }>;
let delays: number[];

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  await rx?.close();
  rx = await startReceiver();
  await redis.flushdb();
  logs = [];
  delays = [];
});
afterAll(async () => {
  await rx?.close();
});

function notifier(maxInFlight?: number, agents?: AgentPool) {
  const log = { warn: (obj: unknown, msg?: string) => logs.push({ level: 'warn', obj, msg }), error: (obj: unknown, msg?: string) => logs.push({ level: 'error', obj, msg }) };
  return new WebhookNotifier({ redis, clock: frozenClock(NOW, 8), log, ...(maxInFlight ? { maxInFlight } : {}), sleep: async (ms) => void delays.push(ms), ...(agents ? { agents } : {}) });
}
const configure = (platforms: object[], extra: object = {}) => redis.set('webhook_config:default', JSON.stringify({ enabled: true, platforms, ...extra }));

describe('webhook delivery', () => {
  it('posts to every enabled platform with the legacy headers; smtp is logged as unsupported', async () => {
    await configure([
      { type: 'custom', url: `${rx.url}/custom`, enabled: true },
      { type: 'smtp', host: 'mail', enabled: true, name: 'mail' },
      { type: 'slack', url: `${rx.url}/off`, enabled: false },
      { type: 'wechat_work', url: `${rx.url}/wx`, enabled: true },
    ]);
    const n = notifier();
    n.accountAnomaly(INPUT);
    await n.idle();
    expect(rx.received.map((r) => r.url).sort()).toEqual(['/custom', '/wx']);
    const custom = rx.received.find((r) => r.url === '/custom')!;
    expect(custom.method).toBe('POST');
    expect(custom.headers['content-type']).toBe('application/json');
    expect(custom.headers['user-agent']).toBe('claude-relay-service/2.0');
    expect(custom.body).toBe(
      '{"type":"accountAnomaly","service":"claude-relay-service","timestamp":"2026-11-26T19:52:04+08:00","data":{"accountId":"acc-1","accountName":"Console A","platform":"claude-console","status":"error","errorCode":"CLAUDE_CONSOLE_UNAUTHORIZED","reason":"r","timestamp":"2026-11-26T11:52:04.000Z"}}',
    );
    expect(logs.some((l) => l.msg?.includes('not supported by the gateway') && JSON.stringify(l.obj).includes('smtp'))).toBe(true);
  });

  it('retries a failing platform with exponential back-off (retrySettings), then succeeds', async () => {
    await configure([{ type: 'custom', url: `${rx.url}/c`, enabled: true }], { retrySettings: { maxRetries: 3, retryDelay: 200 } });
    rx.script.push({ status: 500, body: 'no' }, { status: 502, body: 'no' });
    const n = notifier();
    n.accountAnomaly(INPUT);
    await n.idle();
    expect(rx.received).toHaveLength(3);
    expect(delays).toEqual([200, 400]);
    expect(logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('gives up after maxRetries and logs; telegram needs ok:true in the answer', async () => {
    await configure([{ type: 'telegram', botToken: '1:abc', chatId: '7', apiBaseUrl: rx.url, enabled: true }], { retrySettings: { maxRetries: 2 } });
    rx.script.push({ status: 200, body: '{"ok":false,"description":"chat not found"}' }, { status: 200, body: '{"ok":false,"description":"chat not found"}' });
    const n = notifier();
    n.accountAnomaly(INPUT);
    await n.idle();
    expect(rx.received.map((r) => r.url)).toEqual(['/bot1:abc/sendMessage', '/bot1:abc/sendMessage']);
    expect(JSON.parse(rx.received[0]!.body)).toMatchObject({ chat_id: '7', disable_web_page_preview: true });
    expect(logs.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes('chat not found'))).toBe(true);
  });

  it('telegram proxyUrl: http and socks URLs go through the proxy; an unusable URL is ignored (direct, logged) as the legacy does; socks4 is refused', async () => {
    const proxy = await startConnectProxy();
    const agents = new AgentPool();
    try {
      const tg = (proxyUrl: string) => configure([{ type: 'telegram', botToken: '1:abc', chatId: '7', apiBaseUrl: rx.url, enabled: true, proxyUrl }], { retrySettings: { maxRetries: 1 } });
      const n = notifier(undefined, agents);
      await tg(`http://127.0.0.1:${proxy.port}`);
      n.accountAnomaly(INPUT);
      await n.idle();
      expect(proxy.connects).toBe(1);
      expect(rx.received.map((r) => r.url)).toEqual(['/bot1:abc/sendMessage']);
      expect(rx.received[0]!.headers['user-agent']).toBe('claude-relay-service/2.0');
      expect(JSON.parse(rx.received[0]!.body)).toMatchObject({ chat_id: '7', disable_web_page_preview: true });
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);

      await tg('ftp://proxy.invalid:21');
      n.accountAnomaly(INPUT);
      await n.idle();
      expect(rx.received).toHaveLength(2);
      expect(proxy.connects).toBe(1);
      expect(logs.some((l) => l.level === 'warn' && l.msg?.includes('Telegram proxy config ignored'))).toBe(true);

      await tg(`socks4://127.0.0.1:${proxy.port}`);
      n.accountAnomaly(INPUT);
      await n.idle();
      expect(rx.received).toHaveLength(2);
      expect(logs.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes('not supported by the gateway'))).toBe(true);
    } finally {
      agents.destroy();
      await proxy.close();
    }
  });

  it("a platform that does not answer within its timeout fails (logged), it does not hang the notifier", async () => {
    await configure([{ type: 'custom', url: `${rx.url}/slow`, enabled: true, timeout: 50 }], { retrySettings: { maxRetries: 1 } });
    rx.hold = true;
    const n = notifier();
    n.accountAnomaly(INPUT);
    await n.idle();
    expect(rx.received).toHaveLength(1);
    expect(logs.some((l) => l.level === 'error' && l.msg === 'webhook delivery failed')).toBe(true);
  });

  it('is bounded: beyond maxInFlight a notification is dropped and logged', async () => {
    await configure([{ type: 'custom', url: `${rx.url}/c`, enabled: true }]);
    rx.hold = true;
    const n = notifier(1);
    n.accountAnomaly(INPUT);
    await rx.waitFor(1);
    n.accountAnomaly({ ...INPUT, accountId: 'acc-2' });
    rx.release();
    await n.idle();
    expect(rx.received).toHaveLength(1);
    expect(JSON.parse(rx.received[0]!.body).data.accountId).toBe('acc-1');
    expect(logs.some((l) => l.level === 'warn' && l.msg?.includes('dropped'))).toBe(true);
  });

  it('sends nothing when the config is absent, disabled, or accountAnomaly is switched off', async () => {
    const n = notifier();
    n.accountAnomaly(INPUT);
    await n.idle();
    await redis.set('webhook_config:default', JSON.stringify({ enabled: false, platforms: [{ type: 'custom', url: rx.url, enabled: true }] }));
    n.accountAnomaly(INPUT);
    await n.idle();
    await configure([{ type: 'custom', url: rx.url, enabled: true }], { notificationTypes: { accountAnomaly: false } });
    n.accountAnomaly(INPUT);
    await n.idle();
    expect(rx.received).toEqual([]);
  });
});
