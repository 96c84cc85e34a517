/**
 * Read-only routes: `GET /health` and `GET /api/v1/models` (valid key) served by the migrated
 * modules vs the same requests through the gateway's bridge to the legacy (LEGACY_URL), measured in
 * alternating rounds in one run. Each gateway is its own process (this file, re-run as a child with
 * BENCH_RO_CHILD set); the load generator is this process.
 *
 * The migrated side reads a private redis-server holding one API key. The legacy side needs a key
 * the legacy knows for /api/v1/models: BENCH_LEGACY_API_KEY, else LAB_POOL_KEY from the lab's
 * env file (BENCH_LAB_ENV, default /work/lab/lab.env, see docs/legacy-lab.md). When LEGACY_URL does
 * not answer, only the migrated numbers are printed and the section says so.
 * BENCH_RO_AUTOPIPELINE=1 runs the migrated side with an auto-pipelining Redis client.
 */
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startChild, exitWithParent } from '../lib/child.js';
import { labEnv } from '../lib/lab-env.js';
import { runLoad } from '../lib/load.js';
import { printTable, summarize } from '../lib/percentiles.js';

export const title = 'Read-only routes: migrated modules vs the legacy through the bridge';

const ENCRYPTION_KEY = 'lab-encryption-key-32chars-00000';

async function childMain(): Promise<void> {
  const { loadConfig } = await import('../../gateway/config/env.js');
  const { createGateway } = await import('../../gateway/create.js');
  const mode = process.env.BENCH_RO_MODE === 'legacy' ? 'legacy' : 'migrated';
  const config = loadConfig({
    GATEWAY_PORT: '0',
    GATEWAY_ADMIN_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    LEGACY_URL: process.env.LEGACY_URL ?? 'http://127.0.0.1:3000',
    REDIS_PORT: process.env.BENCH_RO_REDIS_PORT ?? '6379',
    ENCRYPTION_KEY,
    LOG_LEVEL: 'silent',
  });
  // BENCH_RO_AUTOPIPELINE=1: give the modules an ioredis client with enableAutoPipelining (commands
  // issued in the same tick share one socket write) instead of the gateway's default client.
  const deps: Record<string, unknown> = {};
  if (process.env.BENCH_RO_AUTOPIPELINE === '1') {
    const { Redis } = await import('ioredis');
    deps.redis = new Redis({ host: '127.0.0.1', port: config.REDIS_PORT, enableAutoPipelining: true });
  }
  const gw = await createGateway({
    config,
    deps,
    table: {
      routes: [
        { id: 'health', methods: ['GET'], paths: ['/health'], mode, module: 'health' },
        { id: 'models', methods: ['GET'], paths: ['/api/v1/models'], mode, module: 'models' },
        { id: 'rest', paths: ['/*'], mode: 'legacy' },
      ],
    },
    logger: pino({ level: 'silent' }),
  });
  console.log(JSON.stringify({ port: gw.dataPort }));
  process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
  exitWithParent();
}

function legacyKey(): string | undefined {
  if (process.env.BENCH_LEGACY_API_KEY) return process.env.BENCH_LEGACY_API_KEY;
  return labEnv()['LAB_POOL_KEY'] || undefined;
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1500) });
    await r.arrayBuffer();
    return r.status === 200;
  } catch {
    return false;
  }
}

interface Side {
  latency: number[];
  requests: number;
  errors: number;
  ms: number;
  firstError?: string;
}
const side = (): Side => ({ latency: [], requests: 0, errors: 0, ms: 0 });

async function measure(url: string, key: string | undefined, connections: number, ms: number, into: Side): Promise<void> {
  const r = await runLoad({ url, headers: key ? { 'x-api-key': key } : {}, connections, durationMs: ms, keepSamples: true, warmupRequests: connections * 20 });
  into.latency.push(...r.samples!.latency);
  into.requests += r.requests;
  into.errors += r.errors;
  into.ms += r.durationMs;
  into.firstError ??= r.firstError;
}

export async function run(): Promise<void> {
  const { startPrivateRedis } = await import('../../test-support/redis-server.js');
  const { hashApiKey } = await import('../../migrated/crypto/api-key-hash.js');
  const { keys } = await import('../../migrated/storage/keys.js');
  const legacyUrl = process.env.LEGACY_URL ?? 'http://127.0.0.1:3000';
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const roundMs = Number(process.env.BENCH_ROUND_MS ?? 1000);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 10);

  const redis = await startPrivateRedis();
  const client = redis.client();
  const rawKey = `cr_${'5'.repeat(64)}`;
  const keyId = '00000000-0000-4000-8000-0000000000b1';
  await client.hset(keys.apiKey(keyId), 'id', keyId, 'name', 'bench', 'apiKey', hashApiKey(rawKey, ENCRYPTION_KEY), 'isActive', 'true', 'permissions', 'all', 'createdAt', new Date().toISOString());
  await client.hset(keys.apiKeyHashMap(), hashApiKey(rawKey, ENCRYPTION_KEY), keyId);

  const self = fileURLToPath(import.meta.url);
  const env = { BENCH_RO_CHILD: '1', BENCH_RO_REDIS_PORT: String(redis.port), LEGACY_URL: legacyUrl };
  const migrated = await startChild(self, { ...env, BENCH_RO_MODE: 'migrated' });
  const legacyUp = await answers(`${legacyUrl}/health`);
  const bridge = legacyUp ? await startChild(self, { ...env, BENCH_RO_MODE: 'legacy' }) : null;
  const lKey = legacyKey();
  try {
    const migratedBase = `http://127.0.0.1:${migrated.info.port}`;
    const bridgeBase = bridge ? `http://127.0.0.1:${bridge.info.port}` : null;
    const rows: Array<Array<string | number>> = [];
    const cases = [
      { name: 'GET /api/v1/models', path: '/api/v1/models', mKey: rawKey, lKey },
      { name: 'GET /health', path: '/health', mKey: undefined, lKey: undefined as string | undefined },
    ];
    // untimed warm-up of every case on both sides (JIT, sockets, Redis connections) before any round
    for (const c of cases) {
      await measure(migratedBase + c.path, c.mKey, connections, roundMs / 2, side());
      if (bridgeBase && (c.path === '/health' || c.lKey !== undefined)) await measure(bridgeBase + c.path, c.lKey, connections, roundMs / 2, side());
    }
    for (const c of cases) {
      const m = side();
      const l = side();
      const legacyOk = bridgeBase !== null && (c.path === '/health' || c.lKey !== undefined);
      for (let i = 0; i < rounds; i++) {
        await measure(migratedBase + c.path, c.mKey, connections, roundMs, m);
        if (legacyOk) await measure(bridgeBase + c.path, c.lKey, connections, roundMs, l);
      }
      const ms = summarize(m.latency);
      const mRps = (m.requests / m.ms) * 1000;
      rows.push([`${c.name} migrated`, mRps, ms.p50, ms.p99, m.errors]);
      if (legacyOk) {
        const ls = summarize(l.latency);
        const lRps = (l.requests / l.ms) * 1000;
        rows.push([`${c.name} legacy via bridge`, lRps, ls.p50, ls.p99, l.errors]);
        rows.push([`${c.name} ratio`, `x${(mRps / lRps).toFixed(2)} rps`, `x${(ms.p50 / ls.p50).toFixed(2)}`, `x${(ms.p99 / ls.p99).toFixed(2)} p99`, '']);
      } else rows.push([`${c.name} legacy`, 'n/a', '', '', legacyUp ? 'no legacy key (BENCH_LEGACY_API_KEY)' : `${legacyUrl} not answering`]);
      if (m.firstError) console.log(`${c.name} migrated first error: ${m.firstError}`);
      if (l.firstError) console.log(`${c.name} legacy first error: ${l.firstError}`);
    }
    console.log(`${rounds} alternating rounds of ${roundMs} ms per side, ${connections} keep-alive connections; latency in ms`);
    console.log('target (issue 6): migrated >= 5x legacy throughput and p99 <= 0.2x legacy p99');
    printTable(['case', 'rps', 'p50', 'p99', 'errors'], rows);
  } finally {
    await migrated.stop();
    await bridge?.stop();
    await redis.stop();
  }
}

if (process.env.BENCH_RO_CHILD === '1') await childMain();
