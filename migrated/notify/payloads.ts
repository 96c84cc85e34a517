import { createHmac } from 'node:crypto';
import { isoWithOffset, zhLocalTime } from './legacy-time.js';
import type { WebhookPlatform } from './webhook-config.js';

/**
 * What the legacy's webhookService posts for each platform type (payload fields, order, texts,
 * signing), as pure functions of (platform config, notification type, data, time). The detail fields
 * are those of the notifications the gateway sends: the account anomaly and the rate-limit recovery.
 */

/**
 * A notification's data object as handed to sendNotification (the custom webhook posts it as it is); the
 * fields the text formats render are named, the rest (e.g. the recovery's `accounts`) ride along.
 */
export interface NotificationData {
  accountName?: string | undefined;
  platform?: string | undefined;
  /** The rate-limit recovery's platforms (markdown formats only). */
  platforms?: string[] | undefined;
  /** The rate-limit recovery's account count (markdown formats only). */
  totalAccounts?: number | undefined;
  status?: string | undefined;
  errorCode?: string | undefined;
  reason?: string | undefined;
  message?: string | undefined;
  [field: string]: unknown;
}

/** The notification object of sendAccountAnomalyNotification, in the legacy's field order. */
export interface AnomalyData extends NotificationData {
  accountId: string;
  accountName?: string | undefined;
  platform: string;
  status: string;
  errorCode: string;
  reason?: string | undefined;
  timestamp: string;
}

export interface PayloadTime {
  nowMs: number;
  /** TIMEZONE_OFFSET hours (`|| 8`). */
  offsetHours: number;
  /** SYSTEM_TIMEZONE (default Asia/Shanghai): the zh-CN time lines. */
  timeZone: string;
}

export interface OutgoingWebhook {
  url: string;
  body: unknown;
  /** Telegram: the response must be JSON with `ok: true`. */
  expectOkField: boolean;
}

const SERVICE = 'Claude Relay Service';

const TITLES: Record<string, string> = {
  accountAnomaly: '⚠️ 账号异常通知',
  quotaWarning: '📊 配额警告',
  systemError: '❌ 系统错误',
  securityAlert: '🔒 安全警报',
  rateLimitRecovery: '🎉 限流恢复通知',
  test: '🧪 测试通知',
};
const FEISHU_COLORS: Record<string, string> = { accountAnomaly: 'orange', quotaWarning: 'yellow', systemError: 'red', securityAlert: 'red', rateLimitRecovery: 'green', test: 'blue' };
const SLACK_EMOJI: Record<string, string> = {
  accountAnomaly: ':warning:',
  quotaWarning: ':chart_with_downwards_trend:',
  systemError: ':x:',
  securityAlert: ':lock:',
  rateLimitRecovery: ':tada:',
  test: ':test_tube:',
};
const DISCORD_COLORS: Record<string, number> = { accountAnomaly: 0xff9800, quotaWarning: 0xffeb3b, systemError: 0xf44336, securityAlert: 0xf44336, rateLimitRecovery: 0x4caf50, test: 0x2196f3 };
const BARK_LEVELS: Record<string, string> = { accountAnomaly: 'timeSensitive', quotaWarning: 'active', systemError: 'critical', securityAlert: 'critical', rateLimitRecovery: 'active', test: 'passive' };
const BARK_SOUNDS: Record<string, string> = { accountAnomaly: 'alarm', quotaWarning: 'bell', systemError: 'alert', securityAlert: 'alarm', rateLimitRecovery: 'success', test: 'default' };

export const titleOf = (type: string): string => TITLES[type] ?? '📢 系统通知';

export type DetailKey = 'accountName' | 'platform' | 'status' | 'errorCode' | 'reason' | 'message';

/** The detail rows every text format shares (buildNotificationDetails), in the legacy's order, present values only. */
export function details(d: NotificationData): Array<{ key: DetailKey; value: string }> {
  const rows: Array<{ key: DetailKey; value: string }> = [];
  for (const key of ['accountName', 'platform', 'status', 'errorCode', 'reason', 'message'] as const) {
    const value = d[key];
    if (value) rows.push({ key, value });
  }
  return rows;
}

/** buildNotificationDetails' labels (markdown, email). */
export const DETAIL_LABEL = { accountName: '账号', platform: '平台', status: '状态', errorCode: '错误代码', reason: '原因', message: '消息' } as const;
const BARK_LABEL = { accountName: '账号', platform: '平台', status: '状态', errorCode: '错误', reason: '原因', message: '消息' } as const;

/**
 * formatNotificationDetails: `**label**: value` lines; unlike the other formats it also shows the recovery's
 * platforms and account count, after the platform.
 */
export function markdownDetails(d: NotificationData): string {
  const lines = details(d).map((r) => `**${DETAIL_LABEL[r.key]}**: ${r.value}`);
  const extra: string[] = [];
  if (d.platforms) extra.push(`**涉及平台**: ${d.platforms.join(', ')}`);
  if (d.totalAccounts) extra.push(`**恢复账户数**: ${d.totalAccounts}`);
  const at = (d.accountName ? 1 : 0) + (d.platform ? 1 : 0);
  lines.splice(at, 0, ...extra);
  return lines.join('\n');
}

const str = (v: unknown): string | undefined => (v ? String(v) : undefined);
const sign = (key: string, message: string): string => createHmac('sha256', key).update(message).digest('base64');

/** DingTalk signature: HMAC-SHA256 keyed by the secret over `timestamp\nsecret`, base64. */
export const dingTalkSign = (secret: string, timestampMs: number): string => sign(secret, `${timestampMs}\n${secret}`);
/** Feishu signature: HMAC-SHA256 keyed by `timestamp\nsecret` over the empty string, base64. */
export const feishuSign = (secret: string, timestampSec: number): string => sign(`${timestampSec}\n${secret}`, '');

type Builder = (p: WebhookPlatform, type: string, d: NotificationData, t: PayloadTime) => OutgoingWebhook;

const post = (url: string, body: unknown, expectOkField = false): OutgoingWebhook => ({ url, body, expectOkField });

const custom: Builder = (p, type, d, t) => post(String(p.url), { type, service: 'claude-relay-service', timestamp: isoWithOffset(t.nowMs, t.offsetHours), data: d });

const wechatWork: Builder = (p, type, d, t) =>
  post(String(p.url), {
    msgtype: 'markdown',
    markdown: { content: `## ${titleOf(type)}\n\n> **服务**: ${SERVICE}\n> **时间**: ${zhLocalTime(t.nowMs, t.timeZone)}\n\n${markdownDetails(d)}` },
  });

const dingtalk: Builder = (p, type, d, t) => {
  let url = String(p.url);
  const secret = str(p['secret']);
  if (p['enableSign'] && secret) url = `${url}&timestamp=${t.nowMs}&sign=${encodeURIComponent(dingTalkSign(secret, t.nowMs))}`;
  return post(url, {
    msgtype: 'markdown',
    markdown: { title: titleOf(type), text: `#### 服务: ${SERVICE}\n#### 时间: ${zhLocalTime(t.nowMs, t.timeZone)}\n\n${markdownDetails(d)}` },
  });
};

const feishu: Builder = (p, type, d, t) => {
  const body: Record<string, unknown> = {
    msg_type: 'interactive',
    card: {
      elements: [{ tag: 'markdown', content: markdownDetails(d) }],
      header: { title: { tag: 'plain_text', content: titleOf(type) }, template: FEISHU_COLORS[type] ?? 'blue' },
    },
  };
  const secret = str(p['secret']);
  if (p['enableSign'] && secret) {
    const ts = Math.floor(t.nowMs / 1000);
    body['timestamp'] = String(ts);
    body['sign'] = feishuSign(secret, ts);
  }
  return post(String(p.url), body);
};

const slack: Builder = (p, type, d) => post(String(p.url), { text: `*${titleOf(type)}*\n${markdownDetails(d)}`, username: SERVICE, icon_emoji: SLACK_EMOJI[type] ?? ':bell:' });

const discord: Builder = (p, type, d, t) =>
  post(String(p.url), {
    username: SERVICE,
    embeds: [
      {
        title: titleOf(type),
        color: DISCORD_COLORS[type] ?? 0x9e9e9e,
        fields: details(d).map((r) => ({ name: DETAIL_LABEL[r.key], value: r.value, inline: r.key === 'accountName' || r.key === 'platform' || r.key === 'status' })),
        timestamp: isoWithOffset(t.nowMs, t.offsetHours),
        footer: { text: SERVICE },
      },
    ],
  });

/** normalizeTelegramApiBase: http(s) base without its trailing slash, else the public API. */
export function telegramApiBase(base: unknown): string {
  const fallback = 'https://api.telegram.org';
  if (!base) return fallback;
  try {
    const u = new URL(String(base));
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href.replace(/\/$/, '') : fallback;
  } catch {
    return fallback;
  }
}

const telegram: Builder = (p, type, d, t) => {
  if (!p['botToken']) throw new Error('缺少 Telegram 机器人 Token');
  if (!p['chatId']) throw new Error('缺少 Telegram Chat ID');
  const rows = details(d);
  const lines = [titleOf(type), `服务: ${SERVICE}`];
  if (rows.length) lines.push('', ...rows.map((r) => `${DETAIL_LABEL[r.key]}: ${r.value}`));
  lines.push('', `时间: ${zhLocalTime(t.nowMs, t.timeZone)}`);
  return post(`${telegramApiBase(p['apiBaseUrl'])}/bot${String(p['botToken'])}/sendMessage`, { chat_id: p['chatId'], text: lines.join('\n'), disable_web_page_preview: true }, true);
};

const bark: Builder = (p, type, d, t) => {
  const body: Record<string, unknown> = {
    device_key: p['deviceKey'],
    title: titleOf(type),
    body: [...details(d).map((r) => `${BARK_LABEL[r.key]}: ${r.value}`), `\n服务: ${SERVICE}`, `时间: ${zhLocalTime(t.nowMs, t.timeZone)}`].join('\n'),
    level: p['level'] || BARK_LEVELS[type] || 'active',
    sound: p['sound'] || BARK_SOUNDS[type] || 'default',
    group: p['group'] || 'claude-relay',
    badge: 1,
  };
  if (p['icon']) body['icon'] = p['icon'];
  if (p['clickUrl']) body['url'] = p['clickUrl'];
  return post(str(p['serverUrl']) ?? 'https://api.day.app/push', body);
};

const BUILDERS: Record<string, Builder> = { custom, wechat_work: wechatWork, dingtalk, feishu, slack, discord, telegram, bark };

/** The HTTP request for one platform, or null for a type that is not an HTTP webhook (smtp: email.ts) or unknown. */
export function buildWebhook(p: WebhookPlatform, type: string, d: NotificationData, t: PayloadTime): OutgoingWebhook | null {
  const builder = BUILDERS[p.type];
  return builder ? builder(p, type, d, t) : null;
}
