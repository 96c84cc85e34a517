import type { Sql } from 'postgres';
import { schemaStatements } from '../../../migrated/pg/store.js';
import type { PgSnapshot } from '../format/exchange.js';

/**
 * A replay's PostgreSQL: the legacy's schema (as migrated/pg/store.ts creates it) in a private
 * schema; before each exchange every table is emptied and the recorded pre-state rows inserted.
 */
export async function createLegacySchema(sql: Sql): Promise<void> {
  for (const s of schemaStatements) await sql.unsafe(s);
}

const ORDER = ['account_groups', 'account_group_members', 'api_keys', 'accounts', 'users'];

export async function loadPgSnapshot(sql: Sql, snapshot: PgSnapshot): Promise<void> {
  const tables = Object.keys(snapshot).sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));
  const existing = new Set(
    (await sql<{ table_name: string }[]>`select table_name from information_schema.tables where table_schema = current_schema()`).map((r) => r.table_name),
  );
  await sql.unsafe(`truncate ${[...existing].map((t) => `"${t}"`).join(', ')} cascade`);
  for (const table of tables) {
    if (!existing.has(table)) throw new Error(`recorded table ${table} does not exist in the legacy schema`);
    for (const row of Object.values(snapshot[table]!.rows)) {
      const values: Record<string, unknown> = {};
      for (const [col, val] of Object.entries(row)) values[col] = val !== null && typeof val === 'object' ? sql.json(val as never) : val;
      await sql`insert into ${sql(table)} ${sql(values)}`;
    }
  }
}
