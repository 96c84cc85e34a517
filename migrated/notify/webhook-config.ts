import type { Redis } from 'ioredis';
import * as v from 'valibot';
import { keys } from '../storage/keys.js';

/**
 * The legacy admin's webhook configuration (webhookConfigService.getConfig), read from
 * `webhook_config:default` (JSON string) on every notification — the legacy keeps no cache.
 * Missing key or unparsable JSON: the default config (disabled). Stored `notificationTypes` are
 * laid over the default ones (every type on by default).
 */

const PlatformSchema = v.looseObject({
  type: v.string(),
  enabled: v.optional(v.unknown()),
  name: v.optional(v.unknown()),
  url: v.optional(v.unknown()),
  timeout: v.optional(v.unknown()),
});

const ConfigSchema = v.looseObject({
  enabled: v.optional(v.unknown()),
  platforms: v.optional(v.nullable(v.array(PlatformSchema))),
  notificationTypes: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
  retrySettings: v.optional(v.nullable(v.looseObject({ maxRetries: v.optional(v.unknown()), retryDelay: v.optional(v.unknown()) }))),
});

/** One configured platform: its legacy fields as stored (read with the legacy's truthiness). */
export type WebhookPlatform = v.InferOutput<typeof PlatformSchema> & Record<string, unknown>;

export interface WebhookConfig {
  enabled: boolean;
  platforms: WebhookPlatform[];
  notificationTypes: Record<string, unknown>;
  /** `retrySettings?.maxRetries || 3`, `retrySettings?.retryDelay || 1000` (ms). */
  maxRetries: number;
  retryDelayMs: number;
}

export const DEFAULT_NOTIFICATION_TYPES: Readonly<Record<string, boolean>> = {
  accountAnomaly: true,
  quotaWarning: true,
  systemError: true,
  securityAlert: true,
  rateLimitRecovery: true,
  test: true,
};

const positive = (value: unknown, fallback: number): number => {
  const n = typeof value === 'number' ? value : Number.NaN;
  return n > 0 ? n : fallback;
};

export const DEFAULT_WEBHOOK_CONFIG: WebhookConfig = {
  enabled: false,
  platforms: [],
  notificationTypes: { ...DEFAULT_NOTIFICATION_TYPES },
  maxRetries: 3,
  retryDelayMs: 1000,
};

/** Parse the stored JSON text (null: key absent). Invalid JSON or shape: the default (disabled). */
export function parseWebhookConfig(text: string | null): { config: WebhookConfig; problem?: string } {
  if (!text) return { config: DEFAULT_WEBHOOK_CONFIG };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { config: DEFAULT_WEBHOOK_CONFIG, problem: `webhook_config:default is not JSON: ${(err as Error).message}` };
  }
  const parsed = v.safeParse(ConfigSchema, raw);
  if (!parsed.success) return { config: DEFAULT_WEBHOOK_CONFIG, problem: `webhook_config:default has an unexpected shape: ${parsed.issues[0]?.message ?? 'invalid'}` };
  const c = parsed.output;
  return {
    config: {
      enabled: !!c.enabled,
      platforms: (c.platforms ?? []) as WebhookPlatform[],
      notificationTypes: { ...DEFAULT_NOTIFICATION_TYPES, ...(c.notificationTypes ?? {}) },
      maxRetries: positive(c.retrySettings?.maxRetries, 3),
      retryDelayMs: positive(c.retrySettings?.retryDelay, 1000),
    },
  };
}

export async function readWebhookConfig(redis: Redis): Promise<{ config: WebhookConfig; problem?: string }> {
  return parseWebhookConfig(await redis.get(keys.webhookConfig()));
}

/**
 * sendNotification's gate + getEnabledPlatforms: nothing when disabled or the type is switched
 * off (`test` always passes), else the platforms whose `enabled` is truthy, in stored order.
 */
export function platformsFor(config: WebhookConfig, type: string): WebhookPlatform[] {
  if (!config.enabled) return [];
  if (type !== 'test' && !config.notificationTypes[type]) return [];
  return config.platforms.filter((p) => !!p.enabled);
}
