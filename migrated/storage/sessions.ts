import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import type { PgStore } from '../pg/store.js';
import { keys, ttl } from './keys.js';

/**
 * Sticky sessions, session bindings, admin and user sessions (redis-keys.md §11, §12).
 * Sources: src/services/unifiedClaudeScheduler.js (_get/_set/_delete/_extendSessionMapping*),
 * src/services/claudeRelayConfigService.js (original session binding), src/models/redis.js
 * (setSession/getSession), src/middleware/auth.js authenticateAdmin, src/services/userService.js.
 */

export type UnifiedPlatform = 'claude' | 'openai' | 'gemini';

export interface SessionMapping {
  accountId: string;
  accountType: string;
}

export interface StickyOptions {
  /** STICKY_SESSION_TTL_HOURS (legacy default 1; `parseFloat(x) || 1`). */
  stickyTtlHours?: number;
  /** STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES (legacy default 0 = never renew). */
  renewalThresholdMinutes?: number;
}

const mappingKey = (platform: UnifiedPlatform, hash: string): string =>
  platform === 'claude' ? keys.unifiedClaudeSession(hash) : platform === 'openai' ? keys.unifiedOpenAISession(hash) : keys.unifiedGeminiSession(hash);

/** Unified scheduler session stickiness: `unified_{platform}_session_mapping:{hash}` -> JSON {accountId, accountType}. */
export class StickySessions {
  private readonly fullTtl: number;
  private readonly threshold: number;

  constructor(
    private readonly redis: Redis,
    opts: StickyOptions = {},
  ) {
    const hours = opts.stickyTtlHours || 1;
    this.fullTtl = Math.max(1, Math.floor(hours * 3600));
    this.threshold = Math.max(0, Math.floor((opts.renewalThresholdMinutes || 0) * 60));
  }

  /** The mapping, or null when absent or not valid JSON (legacy logs and returns null). */
  async get(platform: UnifiedPlatform, sessionHash: string): Promise<SessionMapping | null> {
    const raw = await this.redis.get(mappingKey(platform, sessionHash));
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as SessionMapping;
      return v && typeof v === 'object' ? v : null;
    } catch {
      return null;
    }
  }

  /** SETEX `{"accountId":…,"accountType":…}` with the full TTL (default 3600 s). */
  async set(platform: UnifiedPlatform, sessionHash: string, accountId: string, accountType: string): Promise<void> {
    await this.redis.setex(mappingKey(platform, sessionHash), this.fullTtl, JSON.stringify({ accountId, accountType }));
  }

  async delete(platform: UnifiedPlatform, sessionHash: string): Promise<void> {
    await this.redis.del(mappingKey(platform, sessionHash));
  }

  /**
   * Legacy _extendSessionMappingTTL: false when the key is gone; true otherwise; re-EXPIRE to the
   * full TTL only when a threshold is configured and the remaining TTL is below it.
   */
  async extend(platform: UnifiedPlatform, sessionHash: string): Promise<boolean> {
    const key = mappingKey(platform, sessionHash);
    const remaining = await this.redis.ttl(key);
    if (remaining === -2) return false;
    if (remaining === -1 || !this.threshold) return true;
    if (remaining < this.threshold) await this.redis.expire(key, this.fullTtl);
    return true;
  }
}

export interface OriginalSessionBinding {
  accountId: string;
  accountType: string;
  createdAt: string;
  lastUsedAt: string;
}

/** `original_session_binding:{uuid}` (claudeRelayConfigService), TTL sessionBindingTtlDays (default 30). */
export class SessionBindings {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  private ttlSeconds(ttlDays: number): number {
    return Math.floor((ttlDays || 30) * 24 * 3600);
  }

  async get(originalSessionId: string): Promise<OriginalSessionBinding | null> {
    if (!originalSessionId) return null;
    const raw = await this.redis.get(keys.originalSessionBinding(originalSessionId));
    if (!raw) return null;
    try {
      return JSON.parse(raw) as OriginalSessionBinding;
    } catch {
      return null;
    }
  }

  async set(originalSessionId: string, accountId: string, accountType: string, ttlDays = 30): Promise<OriginalSessionBinding> {
    if (!originalSessionId || !accountId || !accountType) throw new Error('Invalid parameters for session binding');
    const iso = new Date(this.clock.now()).toISOString();
    const binding: OriginalSessionBinding = { accountId, accountType, createdAt: iso, lastUsedAt: iso };
    await this.redis.set(keys.originalSessionBinding(originalSessionId), JSON.stringify(binding), 'EX', this.ttlSeconds(ttlDays));
    return binding;
  }

  /** Rewrite with a new lastUsedAt and the full TTL; no-op when absent. */
  async touch(originalSessionId: string, ttlDays = 30): Promise<void> {
    const binding = await this.get(originalSessionId);
    if (!binding) return;
    binding.lastUsedAt = new Date(this.clock.now()).toISOString();
    await this.redis.set(keys.originalSessionBinding(originalSessionId), JSON.stringify(binding), 'EX', this.ttlSeconds(ttlDays));
  }
}

/** Admin session hash `session:{token}`: username, loginTime, lastActivity. */
export interface AdminSession {
  username: string;
  loginTime: string;
  lastActivity: string;
  [field: string]: string;
}

export class AdminSessions {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  /** HGETALL; null when absent or missing `username` (legacy treats that as invalid). */
  async get(token: string): Promise<AdminSession | null> {
    const h = await this.redis.hgetall(keys.adminSession(token));
    if (!h || !h.username) return null;
    return h as AdminSession;
  }

  /** Legacy setSession: HSET fields in object order, EXPIRE ttl (default 86400). One MULTI. */
  async set(token: string, data: Record<string, string>, ttlSeconds: number = ttl.adminSessionRefresh): Promise<void> {
    const args = Object.entries(data).flat();
    await this.redis.multi().hset(keys.adminSession(token), ...args).expire(keys.adminSession(token), ttlSeconds).exec();
  }

  /**
   * authenticateAdmin's refresh on each request: re-HSET all fields with a new `lastActivity`
   * and EXPIRE 86400 (not the login's millisecond-as-seconds TTL).
   */
  async touch(token: string, session: AdminSession): Promise<AdminSession> {
    const updated = { ...session, lastActivity: new Date(this.clock.now()).toISOString() };
    await this.set(token, updated, ttl.adminSessionRefresh);
    return updated;
  }

  async delete(token: string): Promise<void> {
    await this.redis.del(keys.adminSession(token));
  }

  /** `session:admin_credentials` (username, passwordHash bcrypt, createdAt, lastLogin, updatedAt). */
  async credentials(): Promise<Record<string, string> | null> {
    const h = await this.redis.hgetall(keys.adminCredentials());
    return h && h.username ? h : null;
  }
}

export interface UserSession {
  token: string;
  userId: string;
  createdAt: string;
  expiresAt: string;
}

/** LDAP user sessions: `user_session:{token}` STRING JSON {token, userId, createdAt, expiresAt}. */
export class UserSessions {
  /** `pgStore`: users are read Redis first, then PostgreSQL (legacy userService.getUserById). */
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly pgStore?: PgStore | null,
  ) {}

  async get(token: string): Promise<UserSession | null> {
    const raw = await this.redis.get(keys.userSession(token));
    if (!raw) return null;
    try {
      return JSON.parse(raw) as UserSession;
    } catch {
      return null;
    }
  }

  /** SETEX floor(timeoutMs/1000) (legacy userSessionTimeout default 86 400 000 ms). */
  async create(token: string, userId: string, timeoutMs = 86_400_000): Promise<UserSession> {
    const now = this.clock.now();
    const session: UserSession = {
      token,
      userId,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + timeoutMs).toISOString(),
    };
    await this.redis.setex(keys.userSession(token), Math.floor(timeoutMs / 1000), JSON.stringify(session));
    return session;
  }

  async delete(token: string): Promise<void> {
    await this.redis.del(keys.userSession(token));
  }

  /** `user:{id}` JSON, else the PostgreSQL `users` row when a store is given; null when absent or corrupt. */
  async user(userId: string): Promise<Record<string, unknown> | null> {
    const raw = await this.redis.get(keys.user(userId));
    if (raw) {
      try {
        return JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return null;
      }
    }
    const pg = this.pgStore;
    return pg?.enabled ? await pg.getUserById(userId) : null;
  }
}
