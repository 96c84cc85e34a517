import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
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
  private cached: RelayConfig | null = null;
  private cachedAt = 0;

  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly cacheMs = 60_000,
  ) {}

  async get(): Promise<RelayConfig> {
    const now = this.clock.now();
    if (this.cached && now - this.cachedAt < this.cacheMs) return this.cached;
    try {
      const raw = await this.redis.get(keys.claudeRelayConfig());
      const stored: unknown = raw ? JSON.parse(raw) : {};
      this.cached = { ...DEFAULT_RELAY_CONFIG, ...(stored && typeof stored === 'object' ? (stored as object) : {}) } as RelayConfig;
      this.cachedAt = now;
      return this.cached;
    } catch {
      return { ...DEFAULT_RELAY_CONFIG };
    }
  }

  /** isClaudeCodeOnlyEnabled: strictly `=== true`. */
  async claudeCodeOnly(): Promise<boolean> {
    return (await this.get()).claudeCodeOnlyEnabled === true;
  }
}
