import type { Sql } from 'postgres';
import type { PgSnapshot } from '../format/exchange.js';

/**
 * Every row of every table of a schema, keyed by primary key values joined with "|", in the
 * shared traces' shape: json/jsonb columns as JSON, everything else as PostgreSQL's text form.
 */
export async function dumpPgSnapshot(sql: Sql, schema = 'public', tables?: string[]): Promise<PgSnapshot> {
  const cols = await sql<{ table_name: string; column_name: string; data_type: string }[]>`
    select table_name, column_name, data_type from information_schema.columns
    where table_schema = ${schema} order by table_name, ordinal_position`;
  const pks = await sql<{ table_name: string; column_name: string }[]>`
    select tc.table_name, kcu.column_name from information_schema.table_constraints tc
    join information_schema.key_column_usage kcu
      on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema
    where tc.table_schema = ${schema} and tc.constraint_type = 'PRIMARY KEY'
    order by tc.table_name, kcu.ordinal_position`;
  const byTable = new Map<string, Array<{ name: string; type: string }>>();
  for (const c of cols) {
    if (tables && !tables.includes(c.table_name)) continue;
    const list = byTable.get(c.table_name) ?? [];
    list.push({ name: c.column_name, type: c.data_type });
    byTable.set(c.table_name, list);
  }
  const out: PgSnapshot = {};
  for (const [table, columns] of [...byTable.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const primaryKey = pks.filter((p) => p.table_name === table).map((p) => p.column_name);
    const select = columns
      .map((c) => (c.type === 'json' || c.type === 'jsonb' ? sql(c.name) : sql.unsafe(`"${c.name.replace(/"/g, '""')}"::text as "${c.name.replace(/"/g, '""')}"`)))
      .reduce((acc, frag, i) => (i === 0 ? sql`${frag}` : sql`${acc}, ${frag}`), sql``);
    const rows = await sql<Record<string, unknown>[]>`select ${select} from ${sql(schema)}.${sql(table)}`;
    const keyed: Record<string, Record<string, unknown>> = {};
    const keyCols = primaryKey.length ? primaryKey : columns.map((c) => c.name);
    for (const row of rows) keyed[keyCols.map((k) => String(row[k])).join('|')] = row;
    const sorted: Record<string, Record<string, unknown>> = {};
    for (const k of Object.keys(keyed).sort()) sorted[k] = keyed[k]!;
    out[table] = { primaryKey, rows: sorted };
  }
  return out;
}
