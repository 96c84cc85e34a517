import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir, pricingFile } from '../../test-support/paths.js';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { frozenClock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { UsageRecorder } from '../usage/record-usage.js';
import { PgStore } from './store.js';

/**
 * PostgreSQL dual-write vs the recorded pg.before/pg.after.json: the usage recorder's
 * `api_keys` upsert (the only PG write it makes) must leave the rows as the legacy did:
 * same hashed_key, same data (jsonb equality), created_at/updated_at unchanged.
 */
const log = pino({ level: 'silent' });
const pricing = new PricingTable(pricingFile).loadSync();

interface PgRow {
  id: string;
  hashed_key: string;
  data: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}
type PgSnap = Record<string, { primaryKey: string[]; rows: Record<string, PgRow> }>;

let server: PrivateRedis;
let redis: Redis;
let pg: PrivateSchema;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  pg = await privateSchema('gwpg');
});
afterAll(async () => {
  await pg?.drop();
  await server?.stop();
});

const read = <T>(dir: string, f: string) => JSON.parse(readFileSync(join(legacyTracesDir, dir, f), 'utf8')) as T;
const pgTs = (s: string) => new Date(s.replace(' ', 'T').replace(/\+00$/, 'Z')).toISOString();

describe.each(['04', '07', '27', '40'])('api_keys rows after usage recording (exchange %s)', (prefix) => {
  it('match pg.after.json (data.lastUsedAt is timestamp noise)', async () => {
    const dir = readdirSync(legacyTracesDir).find((d) => d.startsWith(`${prefix}-`))!;
    const before = read<PgSnap>(dir, 'pg.before.json');
    const after = read<PgSnap>(dir, 'pg.after.json');
    const store = new PgStore(pg.sql, frozenClock(0), log);
    await pg.sql.unsafe('drop table if exists api_keys, accounts, account_group_members, account_groups, users cascade');
    expect(await store.ensureSchema()).toBe(true);
    for (const r of Object.values(before.api_keys!.rows)) {
      await pg.sql`insert into api_keys (id, hashed_key, data, created_at, updated_at)
        values (${r.id}, ${r.hashed_key}, ${JSON.stringify(r.data)}::text::jsonb, ${pgTs(r.created_at)}, ${pgTs(r.updated_at)})`;
    }
    await loadRedisSnapshot(redis, read<RedisSnapshot>(dir, 'redis.before.json'));
    const changed = Object.keys((read<Record<string, { changed: Record<string, unknown> }>>(dir, 'pg.diff.json')).api_keys!.changed);
    expect(changed).toHaveLength(1);
    const keyId = changed[0]!;
    const recorder = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:30.000Z')), ids: scriptedIds(1), log, pricing, pgStore: store });
    await recorder.recordOrThrow({ keyId, accountId: 'acc', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 1, output_tokens: 1 }, recorder: 'basic' });
    const rows = await pg.sql<Array<{ id: string; hashed_key: string; data: Record<string, unknown>; created_at: Date; updated_at: Date }>>`select * from api_keys order by id`;
    const expected = Object.values(after.api_keys!.rows).sort((a, b) => a.id.localeCompare(b.id));
    expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    rows.forEach((row, i) => {
      const exp = expected[i]!;
      expect(row.hashed_key).toBe(exp.hashed_key);
      expect(row.created_at.toISOString()).toBe(pgTs(exp.created_at));
      expect(row.updated_at.toISOString()).toBe(pgTs(exp.updated_at));
      const { lastUsedAt: a, ...restActual } = row.data;
      const { lastUsedAt: b, ...restExpected } = exp.data;
      expect(restActual, row.id).toEqual(restExpected);
      if (row.id === keyId) expect(a).toBe('2026-11-26T11:52:30.000Z');
      else expect(a).toBe(b);
    });
  });
});

describe('accounts rows (claude upsert on every official request, exchange 04)', () => {
  it('saving the account hash as the relay does leaves the row as pg.after.json', async () => {
    const { AccountRepository } = await import('../storage/accounts.js');
    const dir = '04-messages-nonstream-oauth-first';
    const before = read<PgSnap>(dir, 'pg.before.json');
    const after = read<PgSnap>(dir, 'pg.after.json');
    const store = new PgStore(pg.sql, frozenClock(0), log);
    await pg.sql.unsafe('drop table if exists api_keys, accounts, account_group_members, account_groups, users cascade');
    await store.ensureSchema();
    for (const r of Object.values(before.accounts!.rows) as unknown as Array<{ type: string; id: string; data: object; created_at: string; updated_at: string }>) {
      await pg.sql`insert into accounts (type, id, data, created_at, updated_at)
        values (${r.type}, ${r.id}, ${JSON.stringify(r.data)}::text::jsonb, ${pgTs(r.created_at)}, ${pgTs(r.updated_at)})`;
    }
    const redisAfter = read<RedisSnapshot>(dir, 'redis.after.json');
    const id = '7ddd352c-bc47-4d4c-a73b-f5b5ccf5ec9f';
    const hash = redisAfter[`claude:account:${id}`]!.value as Record<string, string>;
    await redis.flushdb();
    await new AccountRepository({ redis, clock: frozenClock(0), pgStore: store }).save('claude', id, hash);
    const [row] = await pg.sql<Array<{ data: Record<string, unknown>; created_at: Date; updated_at: Date }>>`select data, created_at, updated_at from accounts where type = 'claude' and id = ${id}`;
    const exp = (after.accounts!.rows as unknown as Record<string, { data: Record<string, unknown>; created_at: string; updated_at: string }>)[`claude|${id}`]!;
    expect(row!.data).toEqual(exp.data);
    expect(row!.created_at.toISOString()).toBe(pgTs(exp.created_at));
    expect(row!.updated_at.toISOString()).toBe(pgTs(exp.updated_at));
    expect(await redis.hgetall(`claude:account:${id}`)).toEqual(hash);
  });
});
