import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import type { PgStore } from '../pg/store.js';
import { LuaScript } from '../locks/lua-script.js';
import { encodeValue, keys, type AccountKind } from './keys.js';
import type { AccountNameSource } from './account-names.js';
import { scanKeys } from './scan-keys.js';

/** EXISTS + HSET lastUsedAt in one EVALSHA (the legacy's two round trips; same write). */
const TOUCH_IF_EXISTS = new LuaScript(
  'touchLastUsedIfExists',
  `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'lastUsedAt', ARGV[1]) return 1 end
return 0`,
  1,
);

/**
 * Upstream-account repository for every type the legacy knows (redis-keys.md §9,
 * postgres-dual-write.md §4.2): claude, claude-console, openai, openai-responses, azure-openai,
 * gemini, gemini-api, bedrock, droid, ccr.
 *
 * Hash types are returned as the raw string hash (HGETALL order; booleans 'true'/'false',
 * numbers as strings, encrypted fields `{ivHex}:{cipherHex}` — decrypt with migrated/crypto).
 * Bedrock accounts are a STRING holding JSON; `get('bedrock', id)` returns the parsed object
 * with values encoded as strings the same way, and `getBedrock` returns the JSON object itself.
 *
 * Reads: Redis first, PostgreSQL on miss (when a PgStore is given and enabled).
 * Writes: Redis first, then the PG mirror only where the legacy mirrors (see each method).
 */

export type AccountHash = Record<string, string>;

/** `accounts.type` values in PostgreSQL (identical to our AccountKind names). */
export const ALL_ACCOUNT_KINDS: readonly AccountKind[] = [
  'claude',
  'claude-console',
  'openai',
  'openai-responses',
  'azure-openai',
  'gemini',
  'gemini-api',
  'bedrock',
  'droid',
  'ccr',
];

/** Types whose listing merges PG-only accounts into the Redis list; the others use PG only when Redis has none. */
const UNION_LIST_KINDS = new Set<AccountKind>(['claude', 'droid', 'openai']);

export interface AccountRepoDeps {
  redis: Redis;
  clock: Clock;
  pgStore?: PgStore | null;
  /** Account key names kept current by Redis invalidations (account-names.ts); absent: SCAN on every listing. */
  accountNames?: AccountNameSource | null;
}

function encodeAll(data: Record<string, unknown>): AccountHash {
  const out: AccountHash = {};
  for (const [k, v] of Object.entries(data)) out[k] = encodeValue(v);
  return out;
}

/** Parsed helpers for the common status fields (strings in Redis). */
export interface AccountStatusView {
  id: string;
  name: string;
  isActive: boolean;
  schedulable: boolean;
  status: string;
  priority: number;
  accountType: string;
}

/** `schedulable` is true unless stored as 'false' (legacy: `account.schedulable !== 'false'`). */
export function accountStatus(h: AccountHash): AccountStatusView {
  return {
    id: h.id ?? '',
    name: h.name ?? '',
    isActive: h.isActive === 'true',
    schedulable: h.schedulable !== 'false',
    status: h.status ?? '',
    priority: Number.parseInt(h.priority || '50', 10),
    accountType: h.accountType ?? 'shared',
  };
}

export class AccountRepository {
  constructor(private readonly deps: AccountRepoDeps) {}

  private get pg(): PgStore | null {
    const s = this.deps.pgStore;
    return s && s.enabled ? s : null;
  }

  /** One account by type and id; null when absent in Redis and PG. */
  async get(kind: AccountKind, id: string): Promise<AccountHash | null> {
    const { redis } = this.deps;
    if (kind === 'bedrock') {
      const obj = await this.getBedrock(id);
      return obj ? encodeAll(obj) : null;
    }
    const data = await redis.hgetall(keys.account(kind, id));
    if (Object.keys(data).length > 0) return data;
    const pg = this.pg;
    if (pg) {
      const row = await pg.getAccount(kind, id);
      if (row) return encodeAll(row);
    }
    return null;
  }

  /** Bedrock account JSON object (STRING key), PG fallback. Corrupt JSON -> null. */
  async getBedrock(id: string): Promise<Record<string, unknown> | null> {
    const raw = await this.deps.redis.get(keys.account('bedrock', id));
    if (raw) {
      try {
        const v: unknown = JSON.parse(raw);
        if (v && typeof v === 'object') return v as Record<string, unknown>;
      } catch {
        return null;
      }
    }
    const pg = this.pg;
    return pg ? await pg.getAccount('bedrock', id) : null;
  }

  /** Every account of a type: SCAN + pipelined HGETALL; PG merge per the legacy's rules. */
  async list(kind: AccountKind): Promise<AccountHash[]> {
    const { redis } = this.deps;
    const prefix = keys.accountPrefix(kind);
    const scan = async (): Promise<string[]> => [...new Set(await scanKeys(redis, keys.accountPattern(kind), { count: 1000 }))];
    const index = this.deps.accountNames;
    const unique = index ? await index.names(kind, scan) : await scan();
    const out: AccountHash[] = [];
    if (unique.length) {
      const p = redis.pipeline();
      for (const n of unique) {
        if (kind === 'bedrock') p.get(n);
        else p.hgetall(n);
      }
      const res = (await p.exec()) ?? [];
      res.forEach(([err, value], i) => {
        if (err) return; // wrong type under the key: skipped, as the legacy's pipeline does
        const id = unique[i]!.slice(prefix.length);
        if (kind === 'bedrock') {
          try {
            const obj = JSON.parse(String(value)) as Record<string, unknown>;
            if (obj && typeof obj === 'object') out.push({ id, ...encodeAll(obj) });
          } catch {
            /* corrupt JSON: skipped */
          }
        } else if (value && Object.keys(value as object).length > 0) {
          out.push({ id, ...(value as AccountHash) });
        }
      });
    }
    const pg = this.pg;
    if (pg && (UNION_LIST_KINDS.has(kind) || out.length === 0)) {
      const rows = await pg.listAccounts(kind);
      if (rows?.length) {
        const seen = new Set(out.map((a) => a.id));
        for (const r of rows) if (!seen.has(r.id)) out.push({ id: r.id, ...encodeAll(r.data) });
      }
    }
    return out;
  }

  /**
   * Whole-object save (legacy redis.setClaudeAccount / setDroidAccount and the services'
   * "HSET then upsert stored hash"): HSET every field in object order, then PG upsert of
   * `{id, ...data}`. Bedrock: SET of the JSON text.
   */
  async save(kind: AccountKind, id: string, data: Record<string, unknown>): Promise<void> {
    const { redis } = this.deps;
    if (kind === 'bedrock') {
      await redis.set(keys.account(kind, id), JSON.stringify(data));
    } else {
      const args: string[] = [];
      for (const [k, v] of Object.entries(data)) args.push(k, encodeValue(v));
      if (args.length) await redis.hset(keys.account(kind, id), ...args);
    }
    const pg = this.pg;
    if (pg) await pg.upsertAccount(kind, id, { id, ...data });
  }

  /**
   * Partial status update: HSET only the given fields (legacy direct HSETs for rate-limit,
   * overload, block, quota, lastUsedAt ...). Not mirrored to PostgreSQL unless `mirror` is set
   * (then the stored hash is re-read and upserted, as the services' update paths do).
   */
  async updateFields(kind: AccountKind, id: string, fields: Record<string, unknown>, opts: { mirror?: boolean } = {}): Promise<void> {
    if (kind === 'bedrock') throw new Error('bedrock accounts are JSON strings: use save()');
    const args: string[] = [];
    for (const [k, v] of Object.entries(fields)) args.push(k, encodeValue(v));
    if (!args.length) return;
    await this.deps.redis.hset(keys.account(kind, id), ...args);
    if (opts.mirror) await this.mirror(kind, id);
  }

  /**
   * The stored hash upserted into PostgreSQL as `{id, ...hash}` (what the legacy's whole-object saves mirror after a
   * partial change); nothing without PostgreSQL or when the hash is gone.
   */
  async mirror(kind: AccountKind, id: string): Promise<void> {
    const pg = this.pg;
    if (!pg) return;
    const stored = await this.deps.redis.hgetall(keys.account(kind, id));
    if (Object.keys(stored).length > 0) await pg.upsertAccount(kind, id, { id, ...stored });
  }

  /** HDEL fields (e.g. admin reset-status); not mirrored (the legacy mirrors at the next whole save). */
  async removeFields(kind: AccountKind, id: string, fields: string[]): Promise<number> {
    if (!fields.length) return 0;
    return this.deps.redis.hdel(keys.account(kind, id), ...fields);
  }

  /**
   * Per-request `lastUsedAt` HSET, only if the account still exists (claude-console relay
   * `_updateLastUsedTime`; CCR and Droid do the same without the EXISTS check). Not mirrored.
   */
  async touchLastUsed(kind: AccountKind, id: string, opts: { onlyIfExists?: boolean } = {}): Promise<boolean> {
    const { redis } = this.deps;
    const key = keys.account(kind, id);
    const iso = new Date(this.deps.clock.now()).toISOString();
    // one round trip; the EVALSHA is written synchronously once the script is loaded on this connection
    if (opts.onlyIfExists ?? true) return Number(await TOUCH_IF_EXISTS.run(redis, [key], [iso])) === 1;
    await redis.hset(key, 'lastUsedAt', iso);
    return true;
  }

  /** Members of the type's shared-accounts set (empty for types without one). */
  async sharedIds(kind: AccountKind): Promise<string[]> {
    const set = keys.sharedAccounts(kind);
    return set ? this.deps.redis.smembers(set) : [];
  }
}
