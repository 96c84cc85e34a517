/**
 * Interleaved A/B of the migrated relay's PostgreSQL dual-write (`npx tsx bench/relay-pg-ab.ts`):
 * relay processes that differ only in their PostgreSQL client, the same Redis, bench upstream and
 * private schema, 3 s of unmeasured load each, then ROUNDS (5) rounds of 2 s of wrk load taking turns.
 * Prints per variant the medians of the relay's CPU ms per request, of PostgreSQL's (every `postgres`
 * process on the machine: the server's share of the shared cores) and of req/s. On the shared 2 cores a
 * single round moves ±15 %, so only medians of rounds taken in turns compare.
 *
 * Variants (AB=nopg,unnamed,prepared by default): nopg (no dual-write), unnamed (a client created with
 * prepare:false: Parse/Describe, wait, Bind/Execute — the store before 2026-11-26), prepared (the store's
 * named prepared statements, api_keys upserts coalesced per key as the store does since 2026-11-26 16:45),
 * uncoalesced (prepared statements, every request's upsert sent at once: the store at f022a65; the relay
 * process is started with a preload that points the compiled PgStore's upsertApiKey at its direct
 * statement), prepared-pool2 / unnamed-pool2 (a pool of 2 connections instead of 10).
 * Also printed: PostgreSQL api_keys statements per request (a trigger counter in the private schema).
 * Needs wrk (apt-get install wrk) and the test database.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPlainChild, type ChildService } from './lib/child.js';
import { runLoadWith } from './lib/wrk.js';
import { compileBenchServers, TRACE, TRACE_KEY } from './sections/50-claude-relay.js';
import { legacyTracesDir } from '../test-support/paths.js';
import { startPrivateRedis } from '../test-support/redis-server.js';
import { privateSchema } from '../test-support/postgres.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../test-support/redis-snapshot.js';
import { PgStore } from '../migrated/pg/store.js';
import { systemClock } from '../migrated/runtime/clock.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'node_modules', '.cache', 'relay-bench');
const benchDir = join(buildDir, 'migrated', 'relay-claude', 'bench');
/** Preload for the `uncoalesced` variant (written next to the compiled store): upsertApiKey = one statement per call. */
const uncoalescedPreload = join(buildDir, 'uncoalesced-preload.mjs');

/** user+system CPU ms of the processes `pids` (clock ticks of 10 ms). */
function cpuMsOf(pids: readonly string[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      /* exited */
    }
  }
  return total;
}

function postgresPids(): string[] {
  return readdirSync('/proc').filter((d) => {
    if (!/^\d+$/.test(d)) return false;
    try {
      return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'postgres';
    } catch {
      return false;
    }
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

compileBenchServers();
writeFileSync(
  uncoalescedPreload,
  `import { PgStore } from './migrated/pg/store.js';
PgStore.prototype.upsertApiKey = function (keyId, hashedKey, data) {
  if (!keyId || !hashedKey || !data) return Promise.resolve(false);
  return this.writeApiKey(keyId, hashedKey, data);
};
`,
);
const redis = await startPrivateRedis();
const client = redis.client();
await loadRedisSnapshot(client, JSON.parse(readFileSync(join(legacyTracesDir, TRACE, 'redis.before.json'), 'utf8')) as RedisSnapshot);
const schema = await privateSchema('bench_ab');
await new PgStore(schema.sql, systemClock(8), { warn: () => {} }).ensureSchema();
// api_keys statements counter: a row-level trigger fires once per upsert statement
await schema.sql.unsafe('create table upsert_count (one int primary key, n bigint not null)');
await schema.sql.unsafe(`create function count_upsert() returns trigger language plpgsql as $$
  begin insert into upsert_count values (1, 1) on conflict (one) do update set n = upsert_count.n + 1; return null; end $$`);
await schema.sql.unsafe('create trigger api_keys_count after insert or update on api_keys for each row execute function count_upsert()');
const upserts = async () => Number((await schema.sql.unsafe<Array<{ n: string }>>('select n from upsert_count'))[0]?.n ?? 0);
const origin = await startPlainChild<{ port: number }>(join(benchDir, 'sse-origin.js'));
const pgEnv = { BENCH_PG_SCHEMA: schema.schema };
const variants: Record<string, Record<string, string>> = {
  nopg: {},
  unnamed: { ...pgEnv, BENCH_PG_PREPARE: 'off' },
  prepared: pgEnv,
  uncoalesced: { ...pgEnv, BENCH_NODE_IMPORT: pathToFileURL(uncoalescedPreload).href },
  'unnamed-pool2': { ...pgEnv, BENCH_PG_PREPARE: 'off', BENCH_PG_MAX: '2' },
  'prepared-pool2': { ...pgEnv, BENCH_PG_MAX: '2' },
};
const names = (process.env.AB ?? 'nopg,uncoalesced,prepared').split(',').filter((n) => variants[n]);
const relays = new Map<string, ChildService<{ port: number; pid: number }>>();
try {
  for (const name of names) {
    const env = { BENCH_REDIS_PORT: String(redis.port), BENCH_UPSTREAM_OVERRIDE: `http://127.0.0.1:${origin.info.port}`, ...variants[name] };
    const preload = variants[name]!['BENCH_NODE_IMPORT'];
    relays.set(name, await startPlainChild(join(benchDir, 'relay-server.js'), env, 15_000, ['--max-semi-space-size=4', '--heap-growing-percent=30', ...(preload ? [`--import=${preload}`] : [])]));
  }
  const load = (port: number, durationMs: number) =>
    runLoadWith('wrk', {
      url: `http://127.0.0.1:${port}/api/v1/messages`,
      method: 'POST',
      headers: { 'x-api-key': TRACE_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 256, messages: [{ role: 'user', content: 'Say hello to the bench.' }] }),
      connections: 10,
      durationMs,
      warmupRequests: 50,
    });
  for (const r of relays.values()) await load(r.info.port, 3000);
  const seen = new Map(names.map((n) => [n, { relay: [] as number[], pg: [] as number[], rps: [] as number[], stmts: [] as number[] }]));
  const pgPids = postgresPids();
  for (let round = 0; round < Number(process.env.ROUNDS ?? 5); round++) {
    for (const [name, r] of relays) {
      const relay0 = cpuMsOf([String(r.info.pid)]);
      const pg0 = cpuMsOf(pgPids.concat(postgresPids().filter((p) => !pgPids.includes(p))));
      const stmts0 = await upserts();
      const out = await load(r.info.port, 2000);
      const s = seen.get(name)!;
      s.stmts.push((await upserts() - stmts0) / out.requests);
      s.relay.push((cpuMsOf([String(r.info.pid)]) - relay0) / out.requests);
      s.pg.push((cpuMsOf(pgPids.concat(postgresPids().filter((p) => !pgPids.includes(p)))) - pg0) / out.requests);
      s.rps.push((out.requests / out.durationMs) * 1000);
    }
  }
  console.log(`variant          relay CPU ms/req  PostgreSQL CPU ms/req  req/s  upserts/req   (medians of ${seen.get(names[0]!)!.rps.length} rounds)`);
  for (const [name, s] of seen) {
    console.log(`${name.padEnd(16)} ${median(s.relay).toFixed(2).padStart(16)}  ${median(s.pg).toFixed(2).padStart(21)}  ${median(s.rps).toFixed(0).padStart(5)}  ${median(s.stmts).toFixed(2).padStart(11)}`);
  }
} finally {
  for (const r of relays.values()) await r.stop();
  await origin.stop();
  client.disconnect();
  await redis.stop();
  await schema.drop();
}
