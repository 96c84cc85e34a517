/**
 * The migrated Claude relay as its own process, for bench/sections/50-claude-relay.ts: serves the
 * `claude-messages` module on 127.0.0.1 (system clock and ids, Redis from BENCH_REDIS_PORT,
 * optional BENCH_UPSTREAM_OVERRIDE). `GET /__bench/mem` answers this process's memory figures
 * (`?gc=1`: after a full GC, so heapUsed is what is still reachable).
 * Prints {"port":N,"pid":P} when ready; exits with its parent.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { pino } from 'pino';
import { loadConfig } from '../../../gateway/config/env.js';
import { systemClock } from '../../runtime/clock.js';
import { systemIds } from '../../runtime/ids.js';
import { createClaudeMessagesModule } from '../messages-module.js';
import { testPgOptions } from '../../../test-support/postgres.js';

const redis = new Redis({ host: '127.0.0.1', port: Number(process.env.BENCH_REDIS_PORT), lazyConnect: false });
// PostgreSQL dual-write like the legacy it is compared with (BENCH_PG_SCHEMA: a private schema, never the lab's)
const pgSchema = process.env.BENCH_PG_SCHEMA;
// BENCH_PG_PREPARE=off: a client created with prepare:false (unnamed statements, the store's behaviour before 2026-11-26 16:40);
// BENCH_PG_MAX: pool size (10, the gateway's and the legacy's default)
const pgPrepare = process.env.BENCH_PG_PREPARE !== 'off';
const pg = pgSchema ? postgres({ ...testPgOptions(), max: Number(process.env.BENCH_PG_MAX ?? 10), prepare: pgPrepare, onnotice: () => {}, connection: { search_path: pgSchema } }) : null;
const config = loadConfig({
  ENCRYPTION_KEY: process.env.BENCH_ENCRYPTION_KEY ?? 'lab-encryption-key-32chars-00000',
  PRICING_FILE: process.env.PRICING_FILE,
  LOG_LEVEL: 'silent',
} as NodeJS.ProcessEnv);
const module = createClaudeMessagesModule({
  config,
  redis,
  pg,
  clock: systemClock(8),
  ids: systemIds(),
  log: pino({ level: 'silent' }),
  upstreamOverride: process.env.BENCH_UPSTREAM_OVERRIDE || undefined,
});

/** GC count and pause time by kind (minor / major / incremental / weak callbacks), for /__bench/mem. */
const gc = { minor: { count: 0, ms: 0 }, major: { count: 0, ms: 0 }, other: { count: 0, ms: 0 } };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as { detail?: { kind?: number } }).detail?.kind;
    const slot = kind === perfConstants.NODE_PERFORMANCE_GC_MINOR ? gc.minor : kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR ? gc.major : gc.other;
    slot.count++;
    slot.ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

/** A full GC on demand (/__bench/mem?gc=1) without starting the process with --expose-gc. */
function fullGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function vmHwmKb(): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : 0;
}

const server = createServer((req, res) => {
  if (req.url === '/__bench/mem' || req.url === '/__bench/mem?gc=1') {
    if (req.url.endsWith('?gc=1')) fullGc();
    const mu = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((sp) => [sp.space_name, Math.round(sp.physical_space_size / 1024)]));
    const body = JSON.stringify({ rss: mu.rss, heapTotal: mu.heapTotal, heapUsed: mu.heapUsed, external: mu.external, arrayBuffers: mu.arrayBuffers, peakRssKb: vmHwmKb(), heapSpacesPhysicalKb: spaces, gc });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
    return;
  }
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  void module.handle(req, res, { routeId: 'bench', params: {}, signal: controller.signal, clientIp: '127.0.0.1' });
});
server.keepAliveTimeout = 605_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port, pid: process.pid })));
const stop = () => void module.close?.().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
