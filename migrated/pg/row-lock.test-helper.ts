import type { Sql } from 'postgres';

/** Tests: a row lock held by its own transaction, to block writers of that row without timing. */
export interface HeldRowLock {
  /** Resolves once some statement waits for this lock (polls pg_blocking_pids). */
  waiterSeen(): Promise<void>;
  /** Ends the holding transaction. */
  release(): Promise<void>;
}

/** Locks `table`'s row `id` (it must exist) FOR UPDATE until release(). */
export async function holdRowLock(sql: Sql, table: string, id: string): Promise<HeldRowLock> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let locked!: (pid: number) => void;
  const isLocked = new Promise<number>((r) => (locked = r));
  const tx = sql.begin(async (t) => {
    await t.unsafe(`select id from ${table} where id = $1 for update`, [id]);
    locked((await t.unsafe<Array<{ pid: number }>>('select pg_backend_pid() as pid'))[0]!.pid);
    await gate;
  });
  const holder = await isLocked;
  return {
    async waiterSeen() {
      for (;;) {
        const rows = await sql.unsafe<Array<{ n: number }>>('select count(*)::int as n from pg_stat_activity where $1::int = any(pg_blocking_pids(pid))', [holder]);
        if (rows[0]!.n > 0) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async release() {
      release();
      await tx;
    },
  };
}

/**
 * Tests: counts upsert statements on api_keys per row id (a row-level AFTER INSERT OR UPDATE trigger
 * fires once per `insert … on conflict do update` statement). Returns the count reader.
 */
export async function countApiKeyUpserts(sql: Sql): Promise<(id: string) => Promise<number>> {
  await sql.unsafe(`create table upserts (id uuid primary key, n int not null)`);
  await sql.unsafe(`create function count_upsert() returns trigger language plpgsql as $$
    begin
      insert into upserts values (new.id, 1) on conflict (id) do update set n = upserts.n + 1;
      return null;
    end $$`);
  await sql.unsafe(`create trigger api_keys_count after insert or update on api_keys for each row execute function count_upsert()`);
  return async (id) => (await sql.unsafe<Array<{ n: number }>>('select n from upserts where id = $1', [id]))[0]?.n ?? 0;
}
