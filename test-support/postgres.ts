import postgres from 'postgres';

/**
 * PostgreSQL for tests: the machine's server (127.0.0.1:5432, trust auth, database `test`,
 * overridable with POSTGRES_* env). Each test suite gets its own schema, dropped at the end.
 */
export interface PrivateSchema {
  schema: string;
  sql: postgres.Sql;
  drop(): Promise<void>;
}

export function testPgOptions() {
  return {
    host: process.env.POSTGRES_HOST ?? '127.0.0.1',
    port: Number(process.env.POSTGRES_PORT ?? 5432),
    database: process.env.POSTGRES_TEST_DATABASE ?? 'test',
    username: process.env.POSTGRES_USER ?? 'postgres',
    password: process.env.POSTGRES_PASSWORD ?? '',
  };
}

export async function privateSchema(prefix = 'gw'): Promise<PrivateSchema> {
  const schema = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = postgres({ ...testPgOptions(), max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema "${schema}"`);
  await admin.end();
  const sql = postgres({ ...testPgOptions(), max: 4, onnotice: () => {}, connection: { search_path: schema } });
  return {
    schema,
    sql,
    async drop() {
      await sql.unsafe(`drop schema if exists "${schema}" cascade`);
      await sql.end();
    },
  };
}
