import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateSchema, testPgOptions, type PrivateSchema } from '../../test-support/postgres.js';
import { frozenClock } from '../runtime/clock.js';
import { PgStore } from './store.js';

/**
 * PgStore runs its parameterised statements as named prepared statements (one Bind/Execute round
 * trip from the second use on a connection), and a client created with `prepare: false` (PgBouncer in
 * transaction mode) still gets unnamed ones; either way the rows written are the same.
 */
const clock = frozenClock(Date.parse('2026-11-26T16:00:00.000Z'), 8);
const warnings: unknown[] = [];
const log = { warn: (o: unknown) => void warnings.push(o) };
const id = '0b5e2c1f-7d3a-4c8e-9a41-2f6d8b1c3e77';
const hashed = 'f'.repeat(64);

let pg: PrivateSchema;
const clients: postgres.Sql[] = [];
const client = (prepare: boolean) => {
  const sql = postgres({ ...testPgOptions(), max: 1, prepare, onnotice: () => {}, connection: { search_path: pg.schema } });
  clients.push(sql);
  return sql;
};
beforeAll(async () => {
  pg = await privateSchema('gwprep');
  expect(await new PgStore(pg.sql, clock, log).ensureSchema()).toBe(true);
});
afterAll(async () => {
  for (const c of clients) await c.end();
  await pg.drop();
});

async function row() {
  const rows = await pg.sql.unsafe<Array<{ hashed_key: string; data: Record<string, string>; created_at: Date; updated_at: Date }>>(
    'select hashed_key, data, created_at, updated_at from api_keys where id = $1',
    [id],
  );
  return rows[0];
}

describe('PgStore statements', () => {
  for (const prepare of [true, false]) {
    it(`upserts the same row with ${prepare ? 'named prepared' : 'unnamed'} statements (client prepare: ${prepare})`, async () => {
      warnings.length = 0;
      await pg.sql.unsafe('delete from api_keys');
      const sql = client(prepare);
      const store = new PgStore(sql, clock, log);
      const first = { id, name: 'k', apiKey: hashed, createdAt: '2026-01-02T03:04:05.000Z', lastUsedAt: '2026-11-26T15:00:00.000Z' };
      expect(await store.upsertApiKey(id, hashed, first)).toBe(true);
      // the second and third use of the statement on the same (only) connection
      expect(await store.upsertApiKey(id, hashed, { ...first, lastUsedAt: '2026-11-26T15:30:00.000Z' })).toBe(true);
      expect(await store.upsertApiKey(id, hashed, { ...first, lastUsedAt: '2026-11-26T16:00:00.000Z', updatedAt: '2026-11-20T00:00:00.000Z' })).toBe(true);
      expect(warnings).toEqual([]);
      const r = await row();
      expect(r?.hashed_key).toBe(hashed);
      expect(r?.data).toEqual({ ...first, lastUsedAt: '2026-11-26T16:00:00.000Z', updatedAt: '2026-11-20T00:00:00.000Z' });
      expect(r?.created_at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
      expect(r?.updated_at.toISOString()).toBe('2026-11-20T00:00:00.000Z');
      expect(await store.getApiKeyById(id)).toEqual(r?.data);
      // the session's named statements: the upsert and the read, or none with prepare: false
      const named = await sql.unsafe<Array<{ statement: string }>>('select statement from pg_prepared_statements');
      const upserts = named.filter((s) => s.statement.includes('insert into api_keys'));
      expect(upserts).toHaveLength(prepare ? 1 : 0);
      expect(named.some((s) => s.statement.includes('select data from api_keys where id'))).toBe(prepare);
    });
  }
});
