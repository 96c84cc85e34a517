import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { isoWithOffset } from './legacy-time.js';
import { AgentPool } from '../upstream/agents.js';
import { deliver, retrying } from './deliver.js';
import { emailContent, sendEmail } from './email.js';
import { telegramProxy } from './telegram-proxy.js';
import { buildWebhook, type AnomalyData, type NotificationData } from './payloads.js';
import { platformsFor, readWebhookConfig, type WebhookPlatform } from './webhook-config.js';

/**
 * webhookNotifier.sendAccountAnomalyNotification for the migrated relay: the legacy's
 * notification object, its webhook config, its platform payloads — but never in the request's
 * way. `accountAnomaly()` returns at once; the config read and the deliveries run detached, at
 * most `maxInFlight` notifications at a time (more are dropped and logged), every failure logged.
 */

export interface AnomalyInput {
  accountId: string;
  accountName?: string | undefined;
  platform: string;
  status: string;
  /** Omitted: the legacy's code table (`<PLATFORM>_<STATUS>` or UNKNOWN_ERROR). */
  errorCode?: string | undefined;
  reason?: string | undefined;
  /** Omitted: now as `YYYY-MM-DDTHH:mm:ss+08:00`. Call sites pass what the legacy passes. */
  timestamp?: string | undefined;
}

export interface AnomalyNotifier {
  accountAnomaly(n: AnomalyInput): void;
  /** webhookService.sendNotification(type, data) for any other type (e.g. `rateLimitRecovery`); detached likewise. */
  notify(type: string, data: NotificationData): void;
  /** Resolves when every notification started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
}

export interface NotifierLog {
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export interface WebhookNotifierDeps {
  redis: Redis;
  clock: Clock;
  log: NotifierLog;
  /** SYSTEM_TIMEZONE (default Asia/Shanghai). */
  timeZone?: string;
  /** Notifications running at once before new ones are dropped (default 32). */
  maxInFlight?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Agents for Telegram platforms with a `proxyUrl` (default: the notifier's own pool). */
  agents?: AgentPool;
}

const ERROR_CODES: Record<string, Record<string, string>> = {
  'claude-oauth': { unauthorized: 'CLAUDE_OAUTH_UNAUTHORIZED', blocked: 'CLAUDE_OAUTH_BLOCKED', error: 'CLAUDE_OAUTH_ERROR', disabled: 'CLAUDE_OAUTH_MANUALLY_DISABLED' },
  'claude-console': { blocked: 'CLAUDE_CONSOLE_BLOCKED', error: 'CLAUDE_CONSOLE_ERROR', disabled: 'CLAUDE_CONSOLE_MANUALLY_DISABLED' },
  gemini: { error: 'GEMINI_ERROR', unauthorized: 'GEMINI_UNAUTHORIZED', disabled: 'GEMINI_MANUALLY_DISABLED' },
  openai: { error: 'OPENAI_ERROR', unauthorized: 'OPENAI_UNAUTHORIZED', blocked: 'OPENAI_RATE_LIMITED', disabled: 'OPENAI_MANUALLY_DISABLED' },
};

/** The object the legacy hands to sendNotification('accountAnomaly', …), fields in its order. */
export function anomalyData(n: AnomalyInput, nowMs: number, offsetHours: number): AnomalyData {
  return {
    accountId: n.accountId,
    accountName: n.accountName,
    platform: n.platform,
    status: n.status,
    errorCode: n.errorCode || ERROR_CODES[n.platform]?.[n.status] || 'UNKNOWN_ERROR',
    reason: n.reason,
    timestamp: n.timestamp || isoWithOffset(nowMs, offsetHours),
  };
}

/** A notifier that sends nothing (shadow candidates, replays). */
export const silentNotifier: AnomalyNotifier = { accountAnomaly: () => undefined, notify: () => undefined, idle: async () => undefined };

export class WebhookNotifier implements AnomalyNotifier {
  private readonly running = new Set<Promise<void>>();
  private readonly maxInFlight: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private agents: AgentPool | null;

  constructor(private readonly d: WebhookNotifierDeps) {
    this.agents = d.agents ?? null;
    this.maxInFlight = d.maxInFlight ?? 32;
    this.sleep = d.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms).unref()));
  }

  accountAnomaly(n: AnomalyInput): void {
    this.detached('accountAnomaly', () => anomalyData(n, this.d.clock.now(), this.d.clock.timezoneOffsetHours), { accountId: n.accountId, errorCode: n.errorCode });
  }

  notify(type: string, data: NotificationData): void {
    this.detached(type, () => data, {});
  }

  private detached(type: string, data: () => NotificationData, context: Record<string, unknown>): void {
    if (this.running.size >= this.maxInFlight) {
      this.d.log.warn({ type, ...context, inFlight: this.running.size }, 'webhook notification dropped: too many in flight');
      return;
    }
    const p = this.send(type, data())
      .catch((err: unknown) => this.d.log.error({ err, type, ...context }, 'Failed to send webhook notification'))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private async send(type: string, data: NotificationData): Promise<void> {
    const { config, problem } = await readWebhookConfig(this.d.redis);
    if (problem) this.d.log.warn({ problem }, 'webhook config unreadable: using the default (disabled)');
    const platforms = platformsFor(config, type);
    const results = await Promise.allSettled(platforms.map((p) => this.toPlatform(p, type, data, config.maxRetries, config.retryDelayMs)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed) this.d.log.warn({ type, succeeded: results.length - failed, failed }, 'webhook notification partly failed');
  }

  private async toPlatform(p: WebhookPlatform, type: string, data: NotificationData, maxRetries: number, retryDelayMs: number): Promise<void> {
    const target = String(p.name || p.type);
    try {
      const time = { nowMs: this.d.clock.now(), offsetHours: this.d.clock.timezoneOffsetHours, timeZone: this.d.timeZone ?? 'Asia/Shanghai' };
      if (p.type === 'smtp') {
        const mail = emailContent(type, data, time);
        await retrying(() => sendEmail(p, mail), { maxRetries, retryDelayMs }, this.sleep);
        return;
      }
      const tp = p.type === 'telegram' ? telegramProxy(p['proxyUrl']) : ({ kind: 'none' } as const);
      if (tp.kind === 'unsupported') throw new Error(`telegram proxyUrl: ${tp.reason}`);
      if (tp.kind === 'ignored') this.d.log.warn({ target, reason: tp.reason }, 'Telegram proxy config ignored: sending direct');
      const w = buildWebhook(p, type, data, time);
      if (!w) {
        this.d.log.warn({ platform: p.type, target }, 'webhook platform not supported by the gateway yet: notification not sent');
        throw new Error(`unsupported platform type: ${p.type}`);
      }
      const timeoutMs = typeof p.timeout === 'number' && p.timeout > 0 ? p.timeout : 10_000;
      const via = tp.kind === 'proxy' ? { pool: (this.agents ??= new AgentPool()), proxy: tp.proxy } : undefined;
      await deliver(w, { timeoutMs, maxRetries, retryDelayMs }, this.sleep, via);
    } catch (err) {
      this.d.log.error({ err: (err as Error).message, target }, 'webhook delivery failed');
      throw err;
    }
  }
}

/**
 * The relay's notifier for a set of deps. `webhooks: false` on the deps (a shadow candidate: its
 * Redis overlay copies production's webhook config, and the legacy primary already notified)
 * gives the silent one. SYSTEM_TIMEZONE as the legacy reads it (default Asia/Shanghai).
 */
export function notifierFor(deps: MigratedDeps): AnomalyNotifier {
  if (deps.webhooks === false) return silentNotifier;
  return new WebhookNotifier({ redis: deps.redis, clock: deps.clock, log: deps.log, timeZone: deps.config.SYSTEM_TIMEZONE });
}
