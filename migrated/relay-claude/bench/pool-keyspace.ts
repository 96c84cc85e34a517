/**
 * Shared-pool requests against the size of the keyspace (docs/claude-relay.md, "Session 9 changes").
 *
 *   npx tsx migrated/relay-claude/bench/pool-keyspace.ts [filler counts, default 0,200000]
 *
 * A request without a sticky session makes the scheduler list every account type; the legacy does that with a
 * SCAN of the whole keyspace per type, the gateway with its account name index (storage/account-names.ts). The
 * lab's Redis (docs/legacy-lab.md) is copied into a private Redis (`redis-cli --rdb`: the lab's is only read),
 * `N` filler keys are added to the copy, and the compiled gateway serves the lab's pool key from it, calling the lab
 * mock upstream. The load is wrk (10 connections, 4 s) with a new conversation in every request, so each one is
 * scheduled from the pool. The lab legacy is measured on its own keyspace (untouched).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { compileBenchServers } from '../../../bench/sections/50-claude-relay.js';
import { BENCH_GATEWAY_MAIN, benchGatewayEnv, GATEWAY_NODE_ARGS, startGatewayProcess } from '../../../bench/lib/gateway-process.js';
import { printTable } from '../../../bench/lib/percentiles.js';
import { requireLabEnv } from '../../../bench/lib/lab-env.js';
import { freePort } from '../../../test-support/free-port.js';

const LAB_REDIS_PORT = Number(process.env.BENCH_LAB_REDIS_PORT ?? 6391);
const LEGACY = process.env.BENCH_LEGACY_URL ?? 'http://127.0.0.1:3000';
const fillers = (process.argv[2] ?? '0,200000').split(',').map(Number);

const key = requireLabEnv('LAB_POOL_KEY')['LAB_POOL_KEY']!;

const dir = mkdtempSync(join(tmpdir(), 'pool-keyspace-'));
const script = join(dir, 'varied.lua');
writeFileSync(
  script,
  `wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = ${JSON.stringify(key)}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"model":"claude-sonnet-4-5-20250929","max_tokens":256,"messages":[{"role":"user","content":"A new conversation, number ' .. n .. '."}]}')
end
function done(summary, latency, requests)
  io.write(string.format('POOLJSON {"requests":%d,"us":%d,"errors":%d,"p50":%d,"p99":%d}\\n', summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status, latency:percentile(50), latency:percentile(99)))
end
`,
);

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}
function load(url: string, seconds = 4): Result {
  const out = execFileSync('wrk', ['-t1', '-c10', `-d${seconds}s`, '--timeout', '10s', '-s', script, url], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => l.startsWith('POOLJSON '));
  if (!line) throw new Error(`wrk: ${out}`);
  const j = JSON.parse(line.slice(9)) as { requests: number; us: number; errors: number; p50: number; p99: number };
  return { rps: j.requests / (j.us / 1e6), p50: j.p50 / 1000, p99: j.p99 / 1000, errors: j.errors };
}

compileBenchServers();
const rows: string[][] = [];
const fmt = (r: Result) => [r.rps.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1), String(r.errors)];
try {
  execFileSync('redis-cli', ['-p', String(LAB_REDIS_PORT), '--rdb', join(dir, 'dump.rdb')], { stdio: 'ignore' });
  for (const filler of fillers) {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'dump.rdb'], { stdio: 'ignore' });
    const redis = new Redis({ port, lazyConnect: true, retryStrategy: () => 50 });
    redis.on('error', () => undefined);
    try {
      for (;;) {
        try {
          await redis.connect().catch(() => undefined);
          if ((await redis.dbsize()) > 0) break;
        } catch {
          /* loading */
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      for (let i = 0; i < filler; i += 10_000) {
        const p = redis.pipeline();
        for (let j = i; j < Math.min(filler, i + 10_000); j++) p.set(`usage:bench-filler:${j}`, '1');
        await p.exec();
      }
      const keys = await redis.dbsize();
      const gw = await startGatewayProcess(
        BENCH_GATEWAY_MAIN,
        benchGatewayEnv({ redisPort: port, legacyUrl: LEGACY, extra: { NODE_EXTRA_CA_CERTS: process.env.GATEWAY_UPSTREAM_CA_FILE ?? '/work/shared/lab/certs/ca.pem' } }),
        GATEWAY_NODE_ARGS,
      );
      try {
        const url = `http://127.0.0.1:${gw.port}/api/v1/messages`;
        load(url, 2); // warm-up
        rows.push([`migrated, ${keys} keys`, ...fmt(load(url))]);
      } finally {
        await gw.stop();
      }
    } finally {
      redis.disconnect();
      server.kill();
      await new Promise((r) => server.once('exit', r));
    }
  }
  const labKeys = await new Redis({ port: LAB_REDIS_PORT }).dbsize();
  load(`${LEGACY}/api/v1/messages`, 2);
  rows.push([`legacy (lab), ${labKeys} keys`, ...fmt(load(`${LEGACY}/api/v1/messages`))]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log('Shared-pool key, a new conversation per request (scheduled from the pool every time), 10 connections, wrk 4 s');
printTable(['side, keyspace', 'req/s', 'p50 ms', 'p99 ms', 'errors'], rows);
process.exit(0);
