import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { CachedJsonConfig } from '../storage/cached-json-config.js';
import { keys } from '../storage/keys.js';

/**
 * The global `claude_relay_config` JSON (src/services/claudeRelayConfigService.js getConfig):
 * defaults merged with the stored object, cached for 60 s per reader instance. Read errors give
 * the defaults, as in the legacy.
 */
export interface RelayConfig {
  claudeCodeOnlyEnabled: boolean;
  concurrentRequestQueueEnabled: boolean;
  concurrentRequestQueueMaxSize: number;
  concurrentRequestQueueMaxSizeMultiplier: number;
  concurrentRequestQueueTimeoutMs: number;
  concurrentRequestQueueMaxRedisFailCount: number;
  concurrentRequestQueueHealthCheckEnabled: boolean;
  concurrentRequestQueueHealthThreshold: number;
  [field: string]: unknown;
}

export const DEFAULT_RELAY_CONFIG: RelayConfig = {
  claudeCodeOnlyEnabled: false,
  globalSessionBindingEnabled: false,
  sessionBindingErrorMessage: '你的本地session已污染，请清理后使用。',
  sessionBindingTtlDays: 30,
  userMessageQueueEnabled: false,
  userMessageQueueDelayMs: 200,
  userMessageQueueTimeoutMs: 5000,
  userMessageQueueLockTtlMs: 5000,
  concurrentRequestQueueEnabled: false,
  concurrentRequestQueueMaxSize: 3,
  concurrentRequestQueueMaxSizeMultiplier: 0,
  concurrentRequestQueueTimeoutMs: 10000,
  concurrentRequestQueueMaxRedisFailCount: 5,
  concurrentRequestQueueHealthCheckEnabled: true,
  concurrentRequestQueueHealthThreshold: 0.8,
  updatedAt: null,
  updatedBy: null,
};

export class RelayConfigReader {
  private readonly config: CachedJsonConfig<RelayConfig>;

  constructor(redis: Redis, clock: Clock, cacheMs = 60_000) {
    this.config = new CachedJsonConfig(redis, clock, { key: keys.claudeRelayConfig(), defaults: () => ({ ...DEFAULT_RELAY_CONFIG }), ttlMs: cacheMs, stampAt: 'read-start' });
  }

  get(): Promise<RelayConfig> {
    return this.config.get();
  }

  /** isClaudeCodeOnlyEnabled: strictly `=== true`. */
  async claudeCodeOnly(): Promise<boolean> {
    return (await this.get()).claudeCodeOnlyEnabled === true;
  }
}
