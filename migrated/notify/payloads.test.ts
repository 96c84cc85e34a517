import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isoWithOffset, wallTimeWithZone } from './legacy-time.js';
import { anomalyData } from './notifier.js';
import { buildWebhook, type AnomalyData, type PayloadTime } from './payloads.js';
import { parseWebhookConfig, platformsFor, type WebhookPlatform } from './webhook-config.js';

const NOW = Date.parse('2026-11-26T11:52:04.123Z');
const T: PayloadTime = { nowMs: NOW, offsetHours: 8, timeZone: 'Asia/Shanghai' };
const DATA: AnomalyData = anomalyData(
  { accountId: 'acc-1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_UNAUTHORIZED', reason: 'API Key无效或已过期（401错误），账户已停止调度', timestamp: '2026-11-26T11:52:04.123Z' },
  NOW,
  8,
);
const DETAILS = '**账号**: Console A\n**平台**: claude-console\n**状态**: error\n**错误代码**: CLAUDE_CONSOLE_UNAUTHORIZED\n**原因**: API Key无效或已过期（401错误），账户已停止调度';
const platform = (p: Record<string, unknown>): WebhookPlatform => ({ enabled: true, ...p }) as WebhookPlatform;
const build = (p: Record<string, unknown>) => buildWebhook(platform(p), 'accountAnomaly', DATA, T);

describe('legacy time strings', () => {
  it('getISOStringWithTimezone: wall time of the offset, no milliseconds, +hh:mm; offset 0 means 8', () => {
    expect(isoWithOffset(NOW, 8)).toBe('2026-11-26T19:52:04+08:00');
    expect(isoWithOffset(NOW, 0)).toBe('2026-11-26T19:52:04+08:00');
    expect(isoWithOffset(NOW, -5)).toBe('2026-11-26T06:52:04-05:00');
  });
  it('formatDateWithTimezone: seconds or milliseconds, "(UTC+8)" suffix', () => {
    expect(wallTimeWithZone(Math.floor(NOW / 1000), 8)).toBe('2026-11-26 19:52:04 (UTC+8)');
    expect(wallTimeWithZone(NOW, -5)).toBe('2026-11-26 06:52:04 (UTC-5)');
  });
});

describe('the anomaly notification object', () => {
  it('keeps the legacy field order and fills errorCode / timestamp as the legacy does', () => {
    const d = anomalyData({ accountId: 'x', platform: 'claude-oauth', status: 'unauthorized' }, NOW, 8);
    expect(JSON.stringify(d)).toBe('{"accountId":"x","platform":"claude-oauth","status":"unauthorized","errorCode":"CLAUDE_OAUTH_UNAUTHORIZED","timestamp":"2026-11-26T19:52:04+08:00"}');
    expect(anomalyData({ accountId: 'x', platform: 'ccr', status: 'weird' }, NOW, 8).errorCode).toBe('UNKNOWN_ERROR');
    expect(Object.keys(DATA)).toEqual(['accountId', 'accountName', 'platform', 'status', 'errorCode', 'reason', 'timestamp']);
  });
});

describe('platform payloads', () => {
  it('custom: generic JSON envelope with the data as given', () => {
    const w = build({ type: 'custom', url: 'http://h/x' });
    expect(w?.url).toBe('http://h/x');
    expect(JSON.stringify(w?.body)).toBe(JSON.stringify({ type: 'accountAnomaly', service: 'claude-relay-service', timestamp: '2026-11-26T19:52:04+08:00', data: DATA }));
  });

  it('wechat_work: markdown with title, service and zh-CN time', () => {
    expect(build({ type: 'wechat_work', url: 'http://h/w' })?.body).toEqual({
      msgtype: 'markdown',
      markdown: { content: `## ⚠️ 账号异常通知\n\n> **服务**: Claude Relay Service\n> **时间**: 2026/11/26 19:52:04\n\n${DETAILS}` },
    });
  });

  it('dingtalk: signed URL (HMAC-SHA256 keyed by the secret over "ts\\nsecret") only when enableSign and secret', () => {
    const sign = createHmac('sha256', 's3cret').update(`${NOW}\ns3cret`).digest('base64');
    const w = build({ type: 'dingtalk', url: 'http://h/robot/send?access_token=t', enableSign: true, secret: 's3cret' });
    expect(w?.url).toBe(`http://h/robot/send?access_token=t&timestamp=${NOW}&sign=${encodeURIComponent(sign)}`);
    expect(w?.body).toEqual({ msgtype: 'markdown', markdown: { title: '⚠️ 账号异常通知', text: `#### 服务: Claude Relay Service\n#### 时间: 2026/11/26 19:52:04\n\n${DETAILS}` } });
    expect(build({ type: 'dingtalk', url: 'http://h/r?a=1', secret: 's3cret' })?.url).toBe('http://h/r?a=1');
  });

  it('feishu: interactive card; signed with HMAC keyed by "ts\\nsecret" over "" (seconds, as a string)', () => {
    const ts = Math.floor(NOW / 1000);
    const sign = createHmac('sha256', `${ts}\ns3cret`).update('').digest('base64');
    const w = build({ type: 'feishu', url: 'http://h/f', enableSign: true, secret: 's3cret' });
    expect(JSON.stringify(w?.body)).toBe(
      JSON.stringify({
        msg_type: 'interactive',
        card: { elements: [{ tag: 'markdown', content: DETAILS }], header: { title: { tag: 'plain_text', content: '⚠️ 账号异常通知' }, template: 'orange' } },
        timestamp: String(ts),
        sign,
      }),
    );
  });

  it('slack and discord', () => {
    expect(build({ type: 'slack', url: 'http://h/s' })?.body).toEqual({ text: `*⚠️ 账号异常通知*\n${DETAILS}`, username: 'Claude Relay Service', icon_emoji: ':warning:' });
    expect(build({ type: 'discord', url: 'http://h/d' })?.body).toEqual({
      username: 'Claude Relay Service',
      embeds: [
        {
          title: '⚠️ 账号异常通知',
          color: 0xff9800,
          fields: [
            { name: '账号', value: 'Console A', inline: true },
            { name: '平台', value: 'claude-console', inline: true },
            { name: '状态', value: 'error', inline: true },
            { name: '错误代码', value: 'CLAUDE_CONSOLE_UNAUTHORIZED', inline: false },
            { name: '原因', value: DATA.reason, inline: false },
          ],
          timestamp: '2026-11-26T19:52:04+08:00',
          footer: { text: 'Claude Relay Service' },
        },
      ],
    });
  });

  it('telegram: bot API URL (custom base, trailing slash dropped), plain text, ok-field check; missing token is an error', () => {
    const w = build({ type: 'telegram', botToken: '1:abc', chatId: '-100', apiBaseUrl: 'http://tg.local/' });
    expect(w?.url).toBe('http://tg.local/bot1:abc/sendMessage');
    expect(w?.expectOkField).toBe(true);
    expect(w?.body).toEqual({
      chat_id: '-100',
      text: '⚠️ 账号异常通知\n服务: Claude Relay Service\n\n账号: Console A\n平台: claude-console\n状态: error\n错误代码: CLAUDE_CONSOLE_UNAUTHORIZED\n原因: API Key无效或已过期（401错误），账户已停止调度\n\n时间: 2026/11/26 19:52:04',
      disable_web_page_preview: true,
    });
    expect(build({ type: 'telegram', botToken: '1:abc', chatId: '5', apiBaseUrl: 'ftp://x' })?.url).toBe('https://api.telegram.org/bot1:abc/sendMessage');
    expect(() => build({ type: 'telegram', chatId: '5' })).toThrow('Telegram');
  });

  it('bark: defaults per type, optional icon / click URL, default server', () => {
    const w = build({ type: 'bark', deviceKey: 'k'.repeat(22), icon: 'http://i', clickUrl: 'http://c' });
    expect(w?.url).toBe('https://api.day.app/push');
    expect(JSON.stringify(w?.body)).toBe(
      JSON.stringify({
        device_key: 'k'.repeat(22),
        title: '⚠️ 账号异常通知',
        body: '账号: Console A\n平台: claude-console\n状态: error\n错误: CLAUDE_CONSOLE_UNAUTHORIZED\n原因: API Key无效或已过期（401错误），账户已停止调度\n\n服务: Claude Relay Service\n时间: 2026/11/26 19:52:04',
        level: 'timeSensitive',
        sound: 'alarm',
        group: 'claude-relay',
        badge: 1,
        icon: 'http://i',
        url: 'http://c',
      }),
    );
    expect(build({ type: 'bark', deviceKey: 'k', serverUrl: 'http://b/push', level: 'passive', sound: 'bell' })).toMatchObject({ url: 'http://b/push', body: { level: 'passive', sound: 'bell' } });
  });

  it('smtp and unknown types are not built (the gateway does not send them)', () => {
    expect(build({ type: 'smtp', host: 'h' })).toBeNull();
    expect(build({ type: 'pigeon' })).toBeNull();
  });
});

describe('webhook config', () => {
  it('absent or broken: the disabled default', () => {
    expect(parseWebhookConfig(null).config.enabled).toBe(false);
    const broken = parseWebhookConfig('{nope');
    expect(broken.config.enabled).toBe(false);
    expect(broken.problem).toMatch(/not JSON/);
  });

  it('stored types are laid over the defaults; disabled config, switched-off type and disabled platforms send nothing', () => {
    const text = (o: object) => JSON.stringify({ enabled: true, platforms: [{ type: 'custom', url: 'http://a', enabled: true }, { type: 'slack', url: 'http://b', enabled: false }], ...o });
    const on = parseWebhookConfig(text({ notificationTypes: { quotaWarning: false } })).config;
    expect(on.notificationTypes).toMatchObject({ accountAnomaly: true, quotaWarning: false, test: true });
    expect(platformsFor(on, 'accountAnomaly').map((p) => p.url)).toEqual(['http://a']);
    expect(platformsFor(on, 'quotaWarning')).toEqual([]);
    expect(platformsFor(parseWebhookConfig(text({ notificationTypes: { accountAnomaly: false } })).config, 'accountAnomaly')).toEqual([]);
    expect(platformsFor(parseWebhookConfig(text({ enabled: false })).config, 'accountAnomaly')).toEqual([]);
    expect(on).toMatchObject({ maxRetries: 3, retryDelayMs: 1000 });
    expect(parseWebhookConfig(text({ retrySettings: { maxRetries: 1, retryDelay: 5 } })).config).toMatchObject({ maxRetries: 1, retryDelayMs: 5 });
  });
});
