import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { WebhookNotifier, type AnomalyInput } from './notifier.js';
import { startReceiver, type Receiver } from './webhook-receiver.test-helper.js';
import { AgentPool } from '../upstream/agents.js';
import { startConnectProxy } from '../upstream/proxy-policy.test-helper.js';
import { startSmtpReceiver } from './smtp-receiver.test-helper.js';

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
  it('posts to every enabled platform with the legacy headers; an unknown platform type is logged as unsupported', async () => {
    await configure([
      { type: 'custom', url: `${rx.url}/custom`, enabled: true },
      { type: 'pager', url: `${rx.url}/pager`, enabled: true, name: 'pager' },
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
    expect(logs.some((l) => l.msg?.includes('not supported by the gateway') && JSON.stringify(l.obj).includes('pager'))).toBe(true);
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

  it('smtp: the legacy mail (AUTH, envelope, subject, text and HTML parts) over SMTP; a refused connection is retried, then logged', async () => {
    const smtp = await startSmtpReceiver();
    try {
      const platform = { type: 'smtp', host: '127.0.0.1', port: smtp.port, secure: false, user: 'relay@example.com', pass: 's3cret', to: 'ops@example.com', enabled: true, name: 'mail' };
      await configure([platform]);
      const n = notifier();
      n.accountAnomaly(INPUT);
      await n.idle();
      expect(logs.filter((l) => l.level === 'error')).toEqual([]);
      expect(smtp.mails).toHaveLength(1);
      const mail = smtp.mails[0]!;
      expect(mail.auth).toEqual({ user: 'relay@example.com', pass: 's3cret' });
      expect(mail.from).toBe('relay@example.com'); // `from` falls back to the SMTP user
      expect(mail.to).toEqual(['ops@example.com']);
      const { headers, parts } = parseMime(mail.data);
      expect(headers['subject']).toBe('[Claude Relay Service] ⚠️ 账号异常通知');
      expect(headers['to']).toBe('ops@example.com');
      expect(parts['text/plain']).toBe(
        '⚠️ 账号异常通知\n=====================================\n\n账号: Console A\n平台: claude-console\n状态: error\n错误代码: CLAUDE_CONSOLE_UNAUTHORIZED\n原因: r\n\n' +
          `发送时间: ${new Date(NOW).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai' })}\n服务: Claude Relay Service\n=====================================\n此邮件由系统自动发送，请勿回复。`,
      );
      expect(parts['text/html']).toContain('<p><strong>错误代码:</strong> <code style="background: #f1f3f4; padding: 2px 6px; border-radius: 4px;">CLAUDE_CONSOLE_UNAUTHORIZED</code></p>');
      expect(parts['text/html']).toContain('<p><strong>状态:</strong> <span style="color: #dc3545;">error</span></p>');

      await configure([{ ...platform, port: await closedPort() }], { retrySettings: { maxRetries: 2, retryDelay: 100 } });
      n.accountAnomaly(INPUT);
      await n.idle();
      expect(smtp.mails).toHaveLength(1);
      expect(delays).toEqual([100]);
      expect(logs.some((l) => l.level === 'error' && l.msg === 'webhook delivery failed')).toBe(true);
    } finally {
      await smtp.close();
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

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** RFC 2047 encoded words (UTF-8, B or Q) in a header value. */
function decodeWords(value: string): string {
  return value.replace(/=\?UTF-8\?([BQ])\?([^?]*)\?=\s*/gi, (_, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : decodeQuotedPrintable(text.replace(/_/g, ' ')),
  ).trim();
}

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Headers (lower-case names, unfolded, decoded) and the decoded body of each text part of a MIME message (LF line ends). */
function parseMime(data: string): { headers: Record<string, string>; parts: Record<string, string> } {
  const split = (block: string) => {
    const at = block.indexOf('\r\n\r\n');
    const head = block.slice(0, at).replace(/\r\n[ \t]+/g, ' ');
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = decodeWords(line.slice(i + 1).trim());
    }
    return { headers, body: block.slice(at + 4) };
  };
  const top = split(data);
  const boundary = /boundary="?([^";]+)"?/.exec(top.headers['content-type'] ?? '')?.[1];
  const parts: Record<string, string> = {};
  for (const chunk of boundary ? top.body.split(`--${boundary}`).slice(1, -1) : []) {
    const part = split(chunk.replace(/^\r\n/, ''));
    const type = (part.headers['content-type'] ?? '').split(';')[0]!.trim();
    const body = part.body.replace(/\r\n$/, '');
    const cte = (part.headers['content-transfer-encoding'] ?? '').toLowerCase();
    // SMTP carries line ends as CRLF: the mail's own newlines are LF
    parts[type] = (cte === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : cte === 'quoted-printable' ? decodeQuotedPrintable(body) : body).replace(/\r\n/g, '\n');
  }
  return { headers: top.headers, parts };
}
