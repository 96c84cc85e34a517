import type { Sql } from 'postgres';
import { schemaStatements } from '../../../migrated/pg/store.js';
import type { PgSnapshot } from '../format/exchange.js';

/**
 * A replay's PostgreSQL: the legacy's schema (as migrated/pg/store.ts creates it) in a private
 * schema; before each exchange every table is emptied and the recorded pre-state rows inserted,
 * in one transaction (one multi-row insert per table).
 */
export async function createLegacySchema(sql: Sql): Promise<void> {
  for (const s of schemaStatements) await sql.unsafe(s);
}

/** Parents before children (foreign keys). */
const ORDER = ['account_groups', 'account_group_members', 'api_keys', 'accounts', 'users'];
const rank = (t: string): number => (ORDER.indexOf(t) + 1 || 99);

export async function loadPgSnapshot(sql: Sql, snapshot: PgSnapshot): Promise<void> {
  const existing = (
    await sql<{ table_name: string }[]>`select table_name from information_schema.tables where table_schema = current_schema()`
  ).map((r) => r.table_name);
  for (const t of Object.keys(snapshot)) if (!existing.includes(t)) throw new Error(`recorded table ${t} does not exist in the legacy schema`);
  await sql.begin(async (tx) => {
    for (const t of [...existing].sort((a, b) => rank(b) - rank(a))) await tx`delete from ${tx(t)}`;
    for (const t of Object.keys(snapshot).sort((a, b) => rank(a) - rank(b))) {
      const rows = Object.values(snapshot[t]!.rows).map((row) => {
        const values: Record<string, unknown> = {};
        for (const [col, val] of Object.entries(row)) values[col] = val !== null && typeof val === 'object' ? tx.json(val as never) : val;
        return values;
      });
      if (rows.length) await tx`insert into ${tx(t)} ${tx(rows as never)}`;
    }
  });
}
