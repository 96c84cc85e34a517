import type { Sql } from 'postgres';
import type { Logger } from 'pino';
import type { Clock } from '../runtime/clock.js';
import { LatestWins } from './latest-wins.js';

/**
 * PostgreSQL mirror of entities (API keys, accounts, groups, users), as the legacy's
 * src/models/postgresStore.js at b565610a: Redis stays primary, every write here happens
 * after the Redis write, and a failure is logged and swallowed (the caller gets
 * false / null / []). Unlike the legacy, every statement is bounded by `timeoutMs`
 * (default 1500 ms) and cancelled when it runs over, so an unreachable or stalled server
 * never holds a request for seconds (recorded in compat-tests/QUIRKS.md).
 *
 * api_keys upserts are coalesced per key (LatestWins): one statement per key in flight; upserts
 * made meanwhile only replace the key's pending data, sent when the in-flight one finishes. Every
 * caller writes Redis first and upserts the state Redis then held, so the last upsert call carries
 * the newest state: the final row is the one the last call would have written, with fewer
 * intermediate writes (docs/data-layer.md, "PostgreSQL dual-write"). `flush()` before ending the client.
 */

export type PgData = Record<string, unknown>;

/**
 * A busy key's api_keys row is upserted at most once per this interval (its newest data; LatestWins
 * minSpacingMs). Every relayed request rewrites the key's hash (lastUsedAt) and the legacy mirrors each
 * rewrite; under load that was one statement per request (~8% of a core for PostgreSQL and ~4% of the
 * gateway's CPU at 1,500 req/s on one key). The mirror now trails Redis by at most this much for a busy
 * key, and ends on the same row; a key used less often is written at once as before.
 */
export const API_KEY_UPSERT_SPACING_MS = 50;

export interface PgStoreOptions {
  timeoutMs?: number;
}

export type PgLog = Pick<Logger, 'warn'>;

/** The legacy's schema (postgres-dual-write.md §3), every object created only if absent. */
export const schemaStatements: readonly string[] = [
  `create table if not exists api_keys (
     id uuid primary key,
     hashed_key char(64) not null unique,
     data jsonb not null,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now())`,
  `create table if not exists accounts (
     type text not null,
     id text not null,
     data jsonb not null,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now(),
     primary key (type, id))`,
  `create index if not exists accounts_type_idx on accounts(type)`,
  `create table if not exists account_groups (
     id uuid primary key,
     data jsonb not null,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now())`,
  `create table if not exists account_group_members (
     group_id uuid not null references account_groups(id) on delete cascade,
     account_id text not null,
     created_at timestamptz not null default now(),
     primary key (group_id, account_id))`,
  `create index if not exists account_group_members_account_id_idx on account_group_members(account_id)`,
  `create table if not exists users (
     id text primary key,
     username text not null unique,
     data jsonb not null,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now())`,
];

export interface ApiKeyRow {
  hashedKey: string;
  data: PgData;
}

/** An api_keys row as the caller has it, or a read of the row's current state made when the upsert is sent (null: nothing to write). */
type ApiKeySource = ApiKeyRow | (() => Promise<ApiKeyRow | null>);

export class PgStore {
  private readonly timeoutMs: number;
  /** per key id: at most one api_keys upsert in flight, the newest pending data sent next */
  private readonly apiKeyWrites = new LatestWins<ApiKeySource>((keyId, source) => this.writeApiKeyFrom(keyId, source), { minSpacingMs: API_KEY_UPSERT_SPACING_MS });

  constructor(
    private readonly sql: Sql | null,
    private readonly clock: Clock,
    private readonly log: PgLog,
    opts: PgStoreOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 1500;
  }

  get enabled(): boolean {
    return this.sql !== null;
  }

  /** ISO of a stored createdAt/updatedAt, or now when missing/unparsable (legacy toTimestamp). */
  toTimestamp(value: unknown): string {
    if (value) {
      const d = new Date(value as string);
      if (!Number.isNaN(d.getTime())) return d.toISOString();
    }
    return new Date(this.clock.now()).toISOString();
  }

  /** Run one statement with a deadline; null on any failure (logged). */
  private async run<T>(what: string, text: string, params: unknown[]): Promise<T[] | null> {
    const sql = this.sql;
    if (!sql) return null;
    // Named prepared statement (per connection, keyed by the text): from the second use on one
    // connection a statement is one Bind/Execute/Sync write and one round trip. sql.unsafe's default
    // (unnamed) sends Parse/Describe, waits for the parameter types, then Bind/Execute: two round trips
    // and the server parses and plans the text every time. Same parameters, same bytes bound
    // (the types come from the same Describe). A client created with `prepare: false` (PgBouncer in
    // transaction mode) keeps unnamed statements: postgres.js lets that option win.
    const query = sql.unsafe(text, params as never[], params.length > 0 ? { prepare: true } : {});
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.timeoutMs);
    });
    try {
      const result = await Promise.race([query, deadline]);
      if (result === 'timeout') {
        query.cancel();
        query.catch(() => {});
        this.log.warn({ what, timeoutMs: this.timeoutMs }, 'PostgreSQL query timed out, fallback to Redis');
        return null;
      }
      return result as unknown as T[];
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '42P01') this.log.warn({ what }, 'PostgreSQL schema missing, fallback to Redis');
      else this.log.warn({ what, err: e.message }, 'PostgreSQL query failed, fallback to Redis');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  async ensureSchema(): Promise<boolean> {
    for (const s of schemaStatements) if ((await this.run('ensureSchema', s, [])) === null) return false;
    return true;
  }

  /** Resolves when every api_keys upsert made so far has been sent and has finished (shutdown: before sql.end()). */
  flush(): Promise<void> {
    return this.apiKeyWrites.flush();
  }

  /** api_keys upserts: made (submitted) / statements sent; the difference was replaced by newer data before being sent. */
  get apiKeyWriteStats(): Readonly<{ submitted: number; sent: number }> {
    return this.apiKeyWrites.stats;
  }

  // ---- api_keys
  /**
   * Coalesced per key (see the class comment). Resolves with the outcome of the statement that
   * wrote this call's data or newer data of the same key: no earlier than the row holds this state
   * or a newer one (or the attempt failed and was logged).
   */
  upsertApiKey(keyId: string, hashedKey: string, data: PgData): Promise<boolean> {
    if (!keyId || !hashedKey || !data) return Promise.resolve(false);
    return this.apiKeyWrites.submit(keyId, { hashedKey, data });
  }

  /**
   * Whether an api_keys upsert of `keyId` made now would be sent at once: no upsert of the key is in flight or
   * waiting for its interval. A busy key's callers need not carry the row: `upsertApiKeyFrom` reads it when sent.
   */
  apiKeyUpsertIdle(keyId: string): boolean {
    return !this.apiKeyWrites.busy(keyId);
  }

  /**
   * Coalesced like `upsertApiKey`, with the row read by `read` when the statement is about to be sent (the
   * newest state then; null: the key is gone, nothing is written). A busy key is read once per statement,
   * not once per request.
   */
  upsertApiKeyFrom(keyId: string, read: () => Promise<ApiKeyRow | null>): Promise<boolean> {
    if (!keyId) return Promise.resolve(false);
    return this.apiKeyWrites.submit(keyId, read);
  }

  private async writeApiKeyFrom(keyId: string, source: ApiKeySource): Promise<boolean> {
    let row: ApiKeyRow | null;
    if (typeof source === 'function') {
      try {
        row = await source();
      } catch (err) {
        this.log.warn({ err: (err as Error).message, keyId }, 'PostgreSQL api_keys mirror: reading the key failed');
        return false;
      }
      if (!row) return true;
    } else row = source;
    return this.writeApiKey(keyId, row.hashedKey, row.data);
  }

  /** One upsert statement, now. */
  private async writeApiKey(keyId: string, hashedKey: string, data: PgData): Promise<boolean> {
    const rows = await this.run(
      'upsertApiKey',
      `insert into api_keys (id, hashed_key, data, created_at, updated_at)
       values ($1::uuid, $2, $3::text::jsonb, $4::timestamptz, $5::timestamptz)
       on conflict (id) do update set hashed_key = excluded.hashed_key, data = excluded.data, updated_at = excluded.updated_at`,
      [keyId, hashedKey, JSON.stringify(data), this.toTimestamp(data.createdAt), this.toTimestamp(data.updatedAt || data.createdAt)],
    );
    return rows !== null;
  }

  async getApiKeyById(keyId: string): Promise<PgData | null> {
    if (!keyId) return null;
    const rows = await this.run<{ data: PgData }>('getApiKeyById', 'select data from api_keys where id = $1::uuid limit 1', [keyId]);
    return rows?.[0]?.data ?? null;
  }

  async getApiKeyByHashedKey(hashedKey: string): Promise<PgData | null> {
    if (!hashedKey) return null;
    const rows = await this.run<{ data: PgData }>('getApiKeyByHashedKey', 'select data from api_keys where hashed_key = $1 limit 1', [hashedKey]);
    return rows?.[0]?.data ?? null;
  }

  /** Rows of several keys at once (postgresStore.getApiKeysByIds); null when the query failed. */
  async getApiKeysByIds(keyIds: string[]): Promise<Array<{ id: string; data: PgData }> | null> {
    const ids = keyIds.filter(Boolean);
    if (ids.length === 0) return [];
    return this.run<{ id: string; data: PgData }>('getApiKeysByIds', 'select id, data from api_keys where id = any($1::uuid[])', [ids]);
  }

  async listApiKeyIds(): Promise<string[] | null> {
    const rows = await this.run<{ id: string }>('listApiKeyIds', 'select id from api_keys', []);
    return rows ? rows.map((r) => r.id).filter(Boolean) : null;
  }

  async deleteApiKeyById(keyId: string): Promise<boolean> {
    if (!keyId) return false;
    // an upsert made before the delete must not land after it
    await this.apiKeyWrites.settled(keyId);
    return (await this.run('deleteApiKeyById', 'delete from api_keys where id = $1::uuid', [keyId])) !== null;
  }

  // ---- accounts
  async upsertAccount(type: string, id: string, data: PgData): Promise<boolean> {
    if (!type || !id || !data) return false;
    const rows = await this.run(
      'upsertAccount',
      `insert into accounts (type, id, data, created_at, updated_at)
       values ($1, $2, $3::text::jsonb, $4::timestamptz, $5::timestamptz)
       on conflict (type, id) do update set data = excluded.data, updated_at = excluded.updated_at`,
      [type, id, JSON.stringify(data), this.toTimestamp(data.createdAt), this.toTimestamp(data.updatedAt || data.createdAt)],
    );
    return rows !== null;
  }

  async getAccount(type: string, id: string): Promise<PgData | null> {
    if (!type || !id) return null;
    const rows = await this.run<{ data: PgData }>('getAccount', 'select data from accounts where type = $1 and id = $2 limit 1', [type, id]);
    return rows?.[0]?.data ?? null;
  }

  async listAccounts(type: string): Promise<Array<{ id: string; data: PgData }> | null> {
    return this.run<{ id: string; data: PgData }>('listAccounts', 'select id, data from accounts where type = $1', [type]);
  }

  async deleteAccount(type: string, id: string): Promise<boolean> {
    if (!type || !id) return false;
    return (await this.run('deleteAccount', 'delete from accounts where type = $1 and id = $2', [type, id])) !== null;
  }

  // ---- users
  async upsertUser(user: PgData & { id?: unknown; username?: unknown }): Promise<boolean> {
    if (!user?.id || !user.username) return false;
    const rows = await this.run(
      'upsertUser',
      `insert into users (id, username, data, created_at, updated_at)
       values ($1, $2, $3::text::jsonb, $4::timestamptz, $5::timestamptz)
       on conflict (id) do update set username = excluded.username, data = excluded.data, updated_at = excluded.updated_at`,
      [String(user.id), String(user.username), JSON.stringify(user), this.toTimestamp(user.createdAt), this.toTimestamp(user.updatedAt || user.createdAt)],
    );
    return rows !== null;
  }

  async getUserById(id: string): Promise<PgData | null> {
    const rows = await this.run<{ data: PgData }>('getUserById', 'select data from users where id = $1 limit 1', [id]);
    return rows?.[0]?.data ?? null;
  }
}
