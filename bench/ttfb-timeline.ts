/**
 * Where a streamed request's time goes inside the gateway (not a section: `npx tsx bench/ttfb-timeline.ts`).
 *
 * The compiled gateway (as `50-claude-relay.ts` runs it: main.js, the shipped routing table, the `make run` node
 * flags) with the socket-timeline preload (bench/tools/socket-timeline.cjs), a private redis-server holding trace
 * 07's key and Console account, and a private copy of the lab mock (shared/lab/mock-upstream.mjs: 15 ms between
 * events, as the bench's TTFB series meets it) as that account's upstream. N streamed requests, one at a time,
 * alternating with the same request sent to the mock directly; prints both TTFB medians and, per socket event, its
 * median time after the gateway's `request` event: `w` a write began, `wd` it returned, `r` a read, by peer (redis,
 * upstream, client). TIMELINE_REQUESTS (default 100), TIMELINE_WARMUP (20), TIMELINE_PG=on (dual-write into a
 * private database, as the bench does), TIMELINE_ROWS (events printed, default 12), TIMELINE_NODE_ARGS (more node flags for the
 * gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-interval=50`), TIMELINE_LOG (a file for the gateway's
 * stdout: its request log, and the GC trace with `TIMELINE_NODE_ARGS=--trace-gc`; default /dev/null), TIMELINE_NOCOMPILE=1
 * (run the compiled build in node_modules/.cache/relay-bench as it is: a scratch edit of it is measured, not overwritten).
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { legacyTracesDir, sharedDir } from '../test-support/paths.js';
import { freePort } from '../test-support/free-port.js';
import { startPrivateRedis } from '../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../test-support/redis-snapshot.js';
import { testPgOptions } from '../test-support/postgres.js';
import { BENCH_GATEWAY_MAIN, benchGatewayEnv, GATEWAY_NODE_ARGS, privateDatabase, startGatewayProcess } from './lib/gateway-process.js';
import { compileBenchServers, TRACE, TRACE_KEY, ttfb } from './sections/50-claude-relay.js';

const N = Number(process.env.TIMELINE_REQUESTS ?? 100);
const WARMUP = Number(process.env.TIMELINE_WARMUP ?? 20);
const root = join(import.meta.dirname, '..');
const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Say hello to the bench.' }] });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function startMock(): Promise<{ port: number; stop(): void }> {
  const port = await freePort();
  const proxyPort = await freePort();
  const proc = spawn(process.execPath, [join(sharedDir, 'lab', 'mock-upstream.mjs')], { env: { ...process.env, MOCK_PORT: String(port), MOCK_PROXY_PORT: String(proxyPort) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`mock exited (${code})`)));
    createInterface({ input: proc.stdout! }).once('line', () => resolve());
  });
  proc.removeAllListeners('exit');
  return { port, stop: () => proc.kill() };
}

/** Median time of each socket event that occurs in at least half of the requests, by peer and occurrence. */
function summarize(file: string, peers: Map<number, string>): Array<[string, number]> {
  const rows = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { events: Array<[number, string, number, number]> });
  const times = new Map<string, number[]>();
  for (const row of rows) {
    const seen = new Map<string, number>();
    for (const [t, kind, port] of row.events) {
      const name = port ? `${kind} ${peers.get(port) ?? 'client'}` : kind;
      const n = (seen.get(name) ?? 0) + 1;
      seen.set(name, n);
      const key = `${name} #${n}`;
      if (!times.has(key)) times.set(key, []);
      times.get(key)!.push(t / 1000);
    }
  }
  return [...times].filter(([, v]) => v.length >= rows.length / 2).map(([k, v]): [string, number] => [k, median(v)]).sort((a, b) => a[1] - b[1]);
}

if (!process.env.TIMELINE_NOCOMPILE) compileBenchServers();
const redis = await startPrivateRedis();
const mock = await startMock();
const client = redis.client();
const snapshot = JSON.parse(readFileSync(join(legacyTracesDir, TRACE, 'redis.before.json'), 'utf8')) as RedisSnapshot;
await loadRedisSnapshot(client, snapshot);
const accountKey = Object.keys(snapshot).find((k) => k.startsWith('claude_console_account:'))!;
const upstream = `http://127.0.0.1:${mock.port}/v1/messages`;
await client.hset(accountKey, 'apiUrl', upstream);
const pgDb = process.env.TIMELINE_PG === 'on' ? await privateDatabase('timeline_gateway') : null;
const file = `/tmp/socket-timeline-${process.pid}.jsonl`;
rmSync(file, { force: true });
const gateway = await startGatewayProcess(
  BENCH_GATEWAY_MAIN,
  benchGatewayEnv({ redisPort: redis.port, legacyUrl: 'http://127.0.0.1:9', pgDatabase: pgDb?.name, extra: { SOCKET_TIMELINE_FILE: file } }),
  [...GATEWAY_NODE_ARGS, ...(process.env.TIMELINE_NODE_ARGS ?? '').split(' ').filter(Boolean), '--require', join(root, 'bench', 'tools', 'socket-timeline.cjs')],
  { logFile: process.env.TIMELINE_LOG },
);
try {
  const relay = `http://127.0.0.1:${gateway.port}/api/v1/messages`;
  for (let i = 0; i < WARMUP; i++) {
    await ttfb(upstream, {}, body);
    await ttfb(relay, { 'x-api-key': TRACE_KEY }, body);
  }
  rmSync(file, { force: true });
  const direct: number[] = [];
  const relayed: number[] = [];
  for (let i = 0; i < N; i++) {
    direct.push(await ttfb(upstream, {}, body));
    relayed.push(await ttfb(relay, { 'x-api-key': TRACE_KEY }, body));
  }
  await new Promise((r) => setTimeout(r, 200));
  console.log(`streamed TTFB, ${N} each, alternating: upstream direct ${median(direct).toFixed(2)} ms, through the gateway ${median(relayed).toFixed(2)} ms (+${(median(relayed) - median(direct)).toFixed(2)})`);
  console.log('gateway socket events, median ms after its request event (w: write began, wd: write returned, r: read):');
  const peers = new Map<number, string>([
    [redis.port, 'redis'],
    [mock.port, 'upstream'],
    [testPgOptions().port, 'postgres'],
  ]);
  for (const [name, ms] of summarize(file, peers).slice(0, Number(process.env.TIMELINE_ROWS ?? 12))) console.log(`  ${ms.toFixed(3).padStart(8)}  ${name}`);
} finally {
  await gateway.stop();
  mock.stop();
  client.disconnect();
  await redis.stop();
  await pgDb?.drop();
  if (!process.env.TIMELINE_KEEP) rmSync(file, { force: true });
}
