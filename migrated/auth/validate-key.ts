import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { hashApiKey } from '../crypto/api-key-hash.js';
import type { Clock } from '../runtime/clock.js';
import { ApiKeyRepository, parseApiKey, type ApiKeyHash, type ParsedApiKey } from '../storage/api-keys.js';
import { consumeFuel } from '../usage/fuel.js';
import { dateString, keys } from '../storage/keys.js';
import type { PgStore } from '../pg/store.js';
import { loadKeyCosts, type KeyCosts } from './key-costs.js';
import { ReadAhead, type KeyReadAhead, type ReadAheadResult } from './key-read-ahead.js';

/** A key extracted and hashed while the request's body was still arriving (authenticator prefetch). */
export interface PrefetchedKey {
  rawKey: string;
  hashed: string;
  result: Promise<ReadAheadResult | null> | null;
}

/**
 * apiKeyService.validateApiKey / validateApiKeyForStats (auth-and-keys.md §3.1), steps a–g:
 * prefix → lookup by hash → isActive → activation on first use → expiry → owning user → costs.
 */
export interface ValidatedKey {
  record: ApiKeyHash;
  parsed: ParsedApiKey;
  costs: KeyCosts;
  billableDailyCost: number;
  billableTotalCost: number;
  /** Route reads done together with the key lookup (empty when there was no hint). */
  readAhead: ReadAhead;
}

export type Validation = { valid: true; key: ValidatedKey } | { valid: false; error: string };

export interface ValidateDeps {
  redis: Redis;
  clock: Clock;
  log: Pick<Logger, 'warn' | 'error'>;
  encryptionKey: string;
  apiKeyPrefix: string;
  repo: ApiKeyRepository;
  /** PostgreSQL mirror (users not in Redis are looked up there, like userService.getUserById). */
  pgStore?: PgStore | null;
  /** Pipelined lookup for keys seen before (key + costs + route reads in one round trip). */
  readAhead?: KeyReadAhead | undefined;
}

/**
 * userService.getUserById(id, false): `user:{id}` JSON, else PostgreSQL; corrupt JSON throws
 * (the caller then answers "Unable to validate user status", as the legacy does).
 */
async function loadUser(deps: ValidateDeps, userId: string): Promise<Record<string, unknown> | null> {
  const raw = await deps.redis.get(keys.user(userId));
  if (raw) return JSON.parse(raw) as Record<string, unknown>;
  if (deps.pgStore?.enabled) {
    try {
      return await deps.pgStore.getUserById(userId);
    } catch (err) {
      deps.log.warn({ err }, 'failed to read user from PostgreSQL');
    }
  }
  return null;
}

export interface ValidateOptions {
  /** validateApiKeyForStats: no activation, no expiry check, its own disabled message, user-lookup errors ignored. */
  forStats?: boolean;
  /**
   * What the authenticator's prefetch did for this request, used when it is for this key: the key's hash, and
   * the read-ahead lookup it started (null: none started, or too old to use - then the lookup is made now).
   */
  pending?: PrefetchedKey | null | undefined;
}

export async function validateApiKey(deps: ValidateDeps, rawKey: string, opts: ValidateOptions = {}): Promise<Validation> {
  try {
    if (!rawKey || !rawKey.startsWith(deps.apiKeyPrefix)) return { valid: false, error: 'Invalid API key format' };
    const early = opts.pending && opts.pending.rawKey === rawKey ? opts.pending : null;
    const hashed = early ? early.hashed : hashApiKey(rawKey, deps.encryptionKey);
    const ahead = early?.result ? await early.result : deps.readAhead ? await deps.readAhead.lookup(deps.redis, deps.clock, hashed) : null;
    let record = ahead ? ahead.record : await deps.repo.findByHash(hashed);
    if (!record) return { valid: false, error: 'API key not found' };
    // The cost counters do not depend on the checks below: read them now, in parallel with
    // activation and the user lookup (one round trip less on the hot path).
    const costsPromise = ahead ? Promise.resolve(ahead.costs) : loadKeyCosts(deps.redis, deps.clock, record.id);
    costsPromise.catch(() => undefined);
    if (record.isActive !== 'true') {
      if (opts.forStats) return { valid: false, error: `API Key "${record.name || 'Unknown'}" 已被禁用` };
      return { valid: false, error: 'API key is disabled' };
    }
    if (!opts.forStats) {
      record = await deps.repo.activateOnFirstUse(record);
      if (record.expiresAt && deps.clock.now() > new Date(record.expiresAt).getTime()) {
        return { valid: false, error: 'API key has expired' };
      }
    }
    if (record.userId) {
      try {
        const user = await loadUser(deps, record.userId);
        if (!user || !user.isActive) return { valid: false, error: 'User account is disabled' };
      } catch (err) {
        if (!opts.forStats) {
          deps.log.error({ err }, 'user lookup failed during API key validation');
          return { valid: false, error: 'Unable to validate user status' };
        }
        deps.log.warn({ err }, 'user lookup failed during stats key validation');
      }
    }
    const costs = await costsPromise;
    let parsed = parseApiKey(record);
    const now = deps.clock.now();
    if (parsed.fuelBalance > 0 && parsed.fuelNextExpiresAtMs > 0 && parsed.fuelNextExpiresAtMs <= now) {
      // expired fuel-pack entries: fuelPackService.refreshWallet (consume 0) before the limits are judged
      try {
        const w = await consumeFuel(deps.redis, record.id, 0, now, dateString(now, deps.clock.timezoneOffsetHours));
        parsed = { ...parsed, fuelBalance: w.fuelBalance, fuelEntries: w.fuelEntries, fuelNextExpiresAtMs: w.fuelNextExpiresAtMs };
      } catch (err) {
        deps.log.warn({ err, keyId: record.id }, 'failed to refresh fuel-pack wallet');
      }
    }
    if (!opts.forStats) deps.readAhead?.remember(hashed, record);
    return {
      valid: true,
      key: {
        readAhead: ahead?.readAhead ?? ReadAhead.empty,
        record,
        parsed,
        costs,
        billableDailyCost: Math.max(0, costs.dailyCost - costs.fuelUsedDaily),
        billableTotalCost: Math.max(0, costs.totalCost - costs.fuelUsedTotal),
      },
    };
  } catch (err) {
    deps.log.error({ err }, 'API key validation error');
    return { valid: false, error: 'Internal validation error' };
  }
}
