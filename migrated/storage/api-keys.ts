import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.js';
import type { PgStore } from '../pg/store.js';
import { encodeValue, keys, ttl } from './keys.js';
import { readHashes } from './read-hashes.js';
import { scanKeys } from './scan-keys.js';

/**
 * API-key repository: the legacy's `apikey:{id}` hash, `apikey:hash_map`, and the PostgreSQL
 * mirror (src/models/redis.js setApiKey / getApiKey / findApiKeyByHash / deleteApiKey,
 * src/services/apiKeyService.js validateApiKey activation, deleteApiKey soft delete).
 *
 * Stored records are kept as the raw string hash (`ApiKeyHash`, field order = HGETALL
 * order) because every legacy save rewrites the whole hash from what was read: use
 * `parseApiKey` for typed values and `save` to write back.
 */

/** The raw `apikey:{id}` hash as HGETALL returns it (all strings), plus `id`. */
export type ApiKeyHash = Record<string, string> & { id: string };

/** Typed view of an API key (parse rules of the legacy's validateApiKey). */
export interface ParsedApiKey {
  id: string;
  name: string;
  description: string;
  /** sha256(raw key + ENCRYPTION_KEY), hex. */
  hashedKey: string;
  isActive: boolean;
  isDeleted: boolean;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string;
  claudeAccountId: string;
  claudeConsoleAccountId: string;
  geminiAccountId: string;
  openaiAccountId: string;
  azureOpenaiAccountId: string;
  bedrockAccountId: string;
  droidAccountId: string;
  permissions: string;
  /** parseInt(tokenLimit): NaN when empty, as in the legacy. */
  tokenLimit: number;
  concurrencyLimit: number;
  rateLimitWindow: number;
  rateLimitRequests: number;
  rateLimitCost: number;
  enableModelRestriction: boolean;
  restrictedModels: string[];
  enableClientRestriction: boolean;
  allowedClients: string[];
  dailyCostLimit: number;
  totalCostLimit: number;
  weeklyOpusCostLimit: number;
  tags: string[];
  expirationMode: string;
  isActivated: boolean;
  activationDays: number;
  activationUnit: string;
  userId: string;
  fuelBalance: number;
  fuelEntries: number;
  fuelNextExpiresAtMs: number;
}

export interface ApiKeyRepoDeps {
  redis: Redis;
  clock: Clock;
  log: Pick<Logger, 'warn'>;
  /** PostgreSQL mirror; null or disabled store = Redis only (the legacy's default config). */
  pgStore?: PgStore | null;
}

const jsonArray = (s: string | undefined): string[] => {
  if (!s) return [];
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) ? (v as string[]) : [];
  } catch {
    return [];
  }
};

/** JS parseFloat(x || 0) / parseInt(x || 0) as the legacy does. */
const float0 = (s: string | undefined): number => Number.parseFloat(s || '0');
const int0 = (s: string | undefined): number => Number.parseInt(s || '0', 10);

/** Typed view; never throws on corrupt fields (bad JSON -> [], bad number -> NaN/0 as in the legacy). */
export function parseApiKey(h: Record<string, string>): ParsedApiKey {
  return {
    id: h.id ?? '',
    name: h.name ?? '',
    description: h.description ?? '',
    hashedKey: h.apiKey ?? '',
    isActive: h.isActive === 'true',
    isDeleted: h.isDeleted === 'true',
    createdAt: h.createdAt ?? '',
    expiresAt: h.expiresAt ?? '',
    lastUsedAt: h.lastUsedAt ?? '',
    claudeAccountId: h.claudeAccountId ?? '',
    claudeConsoleAccountId: h.claudeConsoleAccountId ?? '',
    geminiAccountId: h.geminiAccountId ?? '',
    openaiAccountId: h.openaiAccountId ?? '',
    azureOpenaiAccountId: h.azureOpenaiAccountId ?? '',
    bedrockAccountId: h.bedrockAccountId ?? '',
    droidAccountId: h.droidAccountId ?? '',
    permissions: h.permissions || 'all',
    tokenLimit: Number.parseInt(h.tokenLimit ?? '', 10),
    concurrencyLimit: int0(h.concurrencyLimit),
    rateLimitWindow: int0(h.rateLimitWindow),
    rateLimitRequests: int0(h.rateLimitRequests),
    rateLimitCost: float0(h.rateLimitCost),
    enableModelRestriction: h.enableModelRestriction === 'true',
    restrictedModels: jsonArray(h.restrictedModels),
    enableClientRestriction: h.enableClientRestriction === 'true',
    allowedClients: jsonArray(h.allowedClients),
    dailyCostLimit: float0(h.dailyCostLimit),
    totalCostLimit: float0(h.totalCostLimit),
    weeklyOpusCostLimit: float0(h.weeklyOpusCostLimit),
    tags: jsonArray(h.tags),
    expirationMode: h.expirationMode ?? '',
    isActivated: h.isActivated === 'true',
    activationDays: Number.parseInt(h.activationDays || '30', 10),
    activationUnit: h.activationUnit || 'days',
    userId: h.userId ?? '',
    fuelBalance: float0(h.fuelBalance),
    fuelEntries: int0(h.fuelEntries),
    fuelNextExpiresAtMs: int0(h.fuelNextExpiresAtMs),
  };
}

/** Values from PostgreSQL `data` are JSON of any type; Redis would hold them ioredis-encoded. */
function encodedPgData(data: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = encodeValue(v);
  return out;
}

function fromPg(data: Record<string, unknown>, id: string): ApiKeyHash {
  return { id, ...encodedPgData(data) } as ApiKeyHash;
}

export class ApiKeyRepository {
  constructor(private readonly deps: ApiKeyRepoDeps) {}

  private get pg(): PgStore | null {
    const s = this.deps.pgStore;
    return s && s.enabled ? s : null;
  }

  /**
   * Look a key up by its hash (legacy findApiKeyByHash): HGET hash_map -> HGETALL apikey:{id};
   * a mapping to an empty hash is removed (HDEL) and PostgreSQL is asked instead.
   * Returns `{id, ...hash}` (id first, then HGETALL order) or null.
   */
  async findByHash(hashedKey: string): Promise<ApiKeyHash | null> {
    const { redis } = this.deps;
    const keyId = await redis.hget(keys.apiKeyHashMap(), hashedKey);
    if (keyId) {
      const data = await redis.hgetall(keys.apiKey(keyId));
      if (Object.keys(data).length > 0) return { id: keyId, ...data } as ApiKeyHash;
      await redis.hdel(keys.apiKeyHashMap(), hashedKey);
    }
    const pg = this.pg;
    if (pg) {
      const data = await pg.getApiKeyByHashedKey(hashedKey);
      if (data) {
        const id = (data.id as string | undefined) || keyId || '';
        return { ...fromPg(data, id), id } as ApiKeyHash;
      }
    }
    return null;
  }

  /** Read by id (legacy getApiKey): `apikey:{id}`, then `api_key:{id}`, then PostgreSQL. Hash as stored (no id prepended). */
  async getById(keyId: string): Promise<Record<string, string> | null> {
    const { redis } = this.deps;
    const data = await redis.hgetall(keys.apiKey(keyId));
    if (Object.keys(data).length > 0) return data;
    const legacy = await redis.hgetall(keys.apiKeyLegacy(keyId));
    if (Object.keys(legacy).length > 0) return legacy;
    const pg = this.pg;
    if (pg) {
      const row = await pg.getApiKeyById(keyId);
      if (row) return encodedPgData(row);
    }
    return null;
  }

  /**
   * Legacy setApiKey: HSET hash_map (when a hash is known), HSET the whole object in its key
   * order, EXPIRE 365 d, then the PostgreSQL upsert of `{id, ...data}`. The Redis part is one
   * MULTI (atomic), the PG part is best effort.
   */
  async save(keyId: string, data: Record<string, unknown>, hashedKey?: string): Promise<void> {
    const resolved = hashedKey || (data.apiKey as string | undefined) || '';
    const args: string[] = [];
    for (const [k, v] of Object.entries(data)) args.push(k, encodeValue(v));
    const m = this.deps.redis.multi();
    if (resolved) m.hset(keys.apiKeyHashMap(), resolved, keyId);
    if (args.length) m.hset(keys.apiKey(keyId), ...args);
    m.expire(keys.apiKey(keyId), ttl.apiKey);
    const res = await m.exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0];
    const pg = this.pg;
    if (pg && resolved) await pg.upsertApiKey(keyId, resolved, { id: keyId, ...data });
  }

  /**
   * First use of an activation-mode key (validateApiKey step d): when
   * `expirationMode === 'activation'` and not yet activated, set isActivated, activatedAt,
   * expiresAt (+activationDays hours|days, default 30) and lastUsedAt, then save the whole
   * hash. Returns the (possibly updated) record; unchanged records are not written.
   */
  async activateOnFirstUse(record: ApiKeyHash): Promise<ApiKeyHash> {
    if (record.expirationMode !== 'activation' || record.isActivated === 'true') return record;
    const now = this.deps.clock.now();
    const period = Number.parseInt(record.activationDays || '30', 10);
    const unitMs = (record.activationUnit || 'days') === 'hours' ? 3_600_000 : 86_400_000;
    const updated: ApiKeyHash = {
      ...record,
      isActivated: 'true',
      activatedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + period * unitMs).toISOString(),
      lastUsedAt: new Date(now).toISOString(),
    };
    await this.save(updated.id, updated);
    return updated;
  }

  /** Legacy expiry test: `expiresAt` set and now > expiresAt. */
  isExpired(record: Record<string, string>): boolean {
    return Boolean(record.expiresAt) && this.deps.clock.now() > new Date(record.expiresAt!).getTime();
  }

  /** Stamp `lastUsedAt` and rewrite the whole hash (usage recorder step 5). */
  async touchLastUsed(keyId: string, record: Record<string, string>): Promise<void> {
    record.lastUsedAt = new Date(this.deps.clock.now()).toISOString();
    await this.save(keyId, record);
  }

  /**
   * Every key as stored (redis.getAllApiKeys, unparsed): the ids from PostgreSQL, the hash map's values and SCANs of
   * `apikey:*` and `api_key:*` (COUNT 20000), in that order without repeats; then each key's hash from Redis (500 per
   * pipeline), else its PostgreSQL row. `{id, ...hash}`; ids with neither are left out. A failed PostgreSQL or hash
   * map read only narrows the list, as in the legacy.
   */
  async listAll(): Promise<Array<Record<string, string> & { id: string }>> {
    const { redis } = this.deps;
    const pg = this.pg;
    const ids = new Set<string>();
    if (pg) {
      try {
        for (const id of (await pg.listApiKeyIds()) ?? []) if (id) ids.add(String(id));
      } catch (err) {
        this.deps.log.warn({ err }, 'failed to list API keys from PostgreSQL');
      }
    }
    try {
      for (const id of await redis.hvals(keys.apiKeyHashMap())) if (id) ids.add(id);
    } catch {
      // the hash map unreadable: the SCANs below still find the keys
    }
    const hashMap = keys.apiKeyHashMap();
    for (const name of await scanKeys(redis, keys.apiKeyPattern(), { count: 20_000 })) if (name !== hashMap) ids.add(name.slice(keys.apiKey('').length));
    for (const name of await scanKeys(redis, keys.apiKeyLegacy('*'), { count: 20_000 })) ids.add(name.slice(keys.apiKeyLegacy('').length));
    ids.delete('');
    const all = [...ids];
    const out: Array<Record<string, string> & { id: string }> = [];
    for (let i = 0; i < all.length; i += 500) {
      const chunk = all.slice(i, i + 500);
      const hashes = await readHashes(redis, chunk.map((id) => keys.apiKey(id)));
      const found = new Map<string, Record<string, string>>();
      chunk.forEach((id, j) => {
        if (hashes[j]) found.set(id, hashes[j]);
      });
      const missing = chunk.filter((id) => !found.has(id));
      if (pg && missing.length > 0) {
        try {
          for (const row of (await pg.getApiKeysByIds(missing)) ?? []) {
            if (row?.id && row.data) found.set(String(row.id), encodedPgData(row.data));
          }
        } catch (err) {
          this.deps.log.warn({ err }, 'failed to batch read API keys from PostgreSQL');
        }
      }
      for (const id of chunk) {
        const data = found.get(id);
        if (data && Object.keys(data).length > 0) out.push({ id, ...data });
      }
    }
    return out;
  }

  /**
   * apiKeyService.updateApiKey(keyId, { isActive: false }): the stored hash (getById) with `isActive` 'false' and a
   * new `updatedAt`, saved whole with its own hash. Throws `API key not found`.
   */
  async deactivate(keyId: string): Promise<void> {
    const data = await this.getById(keyId);
    if (!data || Object.keys(data).length === 0) throw new Error('API key not found');
    const updated = { ...data, isActive: 'false', updatedAt: new Date(this.deps.clock.now()).toISOString() };
    await this.save(keyId, updated, data.apiKey);
  }

  /**
   * Soft delete (apiKeyService.deleteApiKey): marks deleted + inactive and saves the whole hash
   * (which re-adds the hash_map entry: the key then fails with "API key is disabled"), DEL
   * `apikey_hash:{hash}`, ZREM from the cost-rank sets. Throws `API key not found`.
   */
  async softDelete(keyId: string, deletedBy = 'system', deletedByType = 'system'): Promise<void> {
    const data = await this.getById(keyId);
    if (!data || Object.keys(data).length === 0) throw new Error('API key not found');
    const updated = {
      ...data,
      isDeleted: 'true',
      deletedAt: new Date(this.deps.clock.now()).toISOString(),
      deletedBy,
      deletedByType,
      isActive: 'false',
    };
    await this.save(keyId, updated);
    const { redis } = this.deps;
    if (data.apiKey) await redis.del(keys.apiKeyHashEntry(data.apiKey));
    const p = redis.pipeline();
    for (const range of ['today', '7days', '30days', 'all'] as const) p.zrem(keys.costRank(range), keyId);
    await p.exec();
  }

  /** Hard delete (redis.deleteApiKey): HDEL hash_map, DEL both prefixes, PG delete. */
  async hardDelete(keyId: string): Promise<number> {
    const { redis } = this.deps;
    let data = await redis.hgetall(keys.apiKey(keyId));
    if (Object.keys(data).length === 0) data = await redis.hgetall(keys.apiKeyLegacy(keyId));
    if (data.apiKey) await redis.hdel(keys.apiKeyHashMap(), data.apiKey);
    const deleted = (await redis.del(keys.apiKey(keyId))) + (await redis.del(keys.apiKeyLegacy(keyId)));
    const pg = this.pg;
    return deleted + (pg && (await pg.deleteApiKeyById(keyId)) ? 1 : 0);
  }
}
