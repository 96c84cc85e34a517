import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import { LuaScript } from './lua-script.js';

/**
 * Concurrency leases, interoperable with the legacy's scripts (concurrency-locks-queues.md §2):
 * one ZSET per API key (`concurrency:{keyId}`) or Claude Console account
 * (`concurrency:console_account:{accountId}`); member = request id, score = lease expiry
 * (epoch ms). Current concurrency = members with score > now; every script prunes
 * `score <= now` first, so leases of a crashed process (ours or the legacy's) stop counting
 * when they expire, and the key itself goes away by PEXPIRE.
 */

const ACQUIRE = new LuaScript(
  'concurrencyAcquire',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[4]) or 0
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return redis.call('ZCARD', KEYS[1])`,
  1,
);

const RENEW = new LuaScript(
  'concurrencyRenew',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local ttl = tonumber(ARGV[4]) or 0
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`,
  1,
);

const RELEASE = new LuaScript(
  'concurrencyRelease',
  `redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local c = redis.call('ZCARD', KEYS[1])
if c <= 0 then redis.call('DEL', KEYS[1]) return 0 end
return c`,
  1,
);

const COUNT = new LuaScript(
  'concurrencyCount',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])`,
  1,
);

const CLEANUP = new LuaScript(
  'concurrencyCleanup',
  `redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) return 1 end
return 0`,
  1,
);

export interface LeaseConfig {
  /** Lease length (legacy default 300 s; < 30 is raised to 30). */
  leaseSeconds?: number;
  /** Extra key lifetime after the lease (legacy default 30 s). */
  cleanupGraceSeconds?: number;
}

/** Legacy `_getConcurrencyConfig` normalisation. */
export function normalizeLeaseConfig(c: LeaseConfig = {}): { leaseSeconds: number; cleanupGraceSeconds: number } {
  const lease = Number.isFinite(c.leaseSeconds) ? Math.max(c.leaseSeconds!, 30) : 300;
  const grace = Number.isFinite(c.cleanupGraceSeconds) ? Math.max(c.cleanupGraceSeconds!, 0) : 30;
  return { leaseSeconds: lease, cleanupGraceSeconds: grace };
}

export type LeaseTarget = { apiKeyId: string } | { consoleAccountId: string };

const keyOf = (t: LeaseTarget): string => ('apiKeyId' in t ? keys.concurrency(t.apiKeyId) : keys.concurrencyConsoleAccount(t.consoleAccountId));

export class ConcurrencyLeases {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  private args(leaseSeconds: number, graceSeconds: number): { now: number; expireAt: number; ttl: number } {
    const now = this.clock.now();
    return { now, expireAt: now + leaseSeconds * 1000, ttl: Math.max((leaseSeconds + graceSeconds) * 1000, 60000) };
  }

  /**
   * Take (or move) the lease of `requestId`; returns the count including it. The caller
   * admits iff count <= limit, else calls release() (legacy middleware). API keys: lease
   * 300 s / grace 30 s; Console accounts: lease 600 s / grace 30 s.
   */
  async acquire(target: LeaseTarget, requestId: string, cfg: LeaseConfig = {}): Promise<number> {
    if (!requestId) throw new Error('requestId is required for concurrency tracking');
    const d = 'apiKeyId' in target ? normalizeLeaseConfig(cfg) : { leaseSeconds: cfg.leaseSeconds ?? 600, cleanupGraceSeconds: cfg.cleanupGraceSeconds ?? 30 };
    const { now, expireAt, ttl } = this.args(d.leaseSeconds, d.cleanupGraceSeconds);
    return Number(await ACQUIRE.run(this.redis, [keyOf(target)], [requestId, expireAt, now, ttl]));
  }

  /** Extend a live lease; 0 when it already expired (never resurrected). Errors -> 0. */
  async renew(target: LeaseTarget, requestId: string, cfg: LeaseConfig = {}): Promise<number> {
    try {
      const d = 'apiKeyId' in target ? normalizeLeaseConfig(cfg) : { leaseSeconds: cfg.leaseSeconds ?? 600, cleanupGraceSeconds: cfg.cleanupGraceSeconds ?? 30 };
      const { now, expireAt, ttl } = this.args(d.leaseSeconds, d.cleanupGraceSeconds);
      return Number(await RENEW.run(this.redis, [keyOf(target)], [requestId, expireAt, now, ttl]));
    } catch {
      return 0;
    }
  }

  /** Remove the lease; returns the remaining live count (key deleted at 0). */
  async release(target: LeaseTarget, requestId: string): Promise<number> {
    return Number(await RELEASE.run(this.redis, [keyOf(target)], [requestId || '', this.clock.now()]));
  }

  /** Live count (prunes expired leases). Errors -> 0 like the legacy. */
  async count(target: LeaseTarget): Promise<number> {
    try {
      return Number(await COUNT.run(this.redis, [keyOf(target)], [this.clock.now()]));
    } catch {
      return 0;
    }
  }

  /** The 60 s sweep for one `concurrency:*` key: prune, DEL when empty; 1 when deleted. */
  async cleanupKey(key: string): Promise<number> {
    if (key.startsWith('concurrency:queue:')) return 0;
    return Number(await CLEANUP.run(this.redis, [key], [this.clock.now()]));
  }
}
