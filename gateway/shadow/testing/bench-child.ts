/**
 * Benchmark child (bench/sections/20-shadow.ts): one complete stack in its own process —
 * production + sandbox Redis, a counting upstream (SSE with small gaps), the toy "legacy" origin,
 * and the gateway with the toy route in `shadow` mode (BENCH_SHADOW=on: taps, sandbox, comparison)
 * or `legacy` mode with the origin talking to Redis and the upstream directly (BENCH_SHADOW=off).
 * BENCH_SAMPLE_RATE=0 measures the taps alone (nothing sampled).
 * Prints {"port", "admin"} when ready; exits when its parent goes away.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { exitWithParent } from '../../../bench/lib/child.js';
import { startPrivateRedis } from '../../../test-support/redis-server.js';
import { loadConfig } from '../../config/env.js';
import { createGateway } from '../../create.js';
import { startShadowMode } from '../setup.js';
import { startCountingUpstream } from './counting-upstream.js';
import { startToyOrigin, toyModuleFactory } from './toy-service.js';

// on: shadow wiring with BENCH_SAMPLE_RATE (default 1; 0 = the taps alone); off: plain legacy mode.
const on = process.env.BENCH_SHADOW === 'on';
const sampleRate = Number(process.env.BENCH_SAMPLE_RATE ?? 1);
const prod = await startPrivateRedis();
const box = await startPrivateRedis();
const seed = prod.client();
await seed.hset('apikey:bench', 'name', 'bench', 'upstreamKey', 'sk-bench');
const upstream = await startCountingUpstream(Number(process.env.BENCH_EVENT_GAP_MS ?? 2));
const log = pino({ level: 'silent' });
const shadow = on
  ? await startShadowMode({ log, production: { host: prod.host, port: prod.port }, sandbox: { host: box.host, port: box.port }, upstreamTarget: upstream.url, settleMs: 50 })
  : null;
const originRedis = new Redis({ host: '127.0.0.1', port: shadow ? shadow.primaryRedisPort : prod.port });
const origin = await startToyOrigin(originRedis, shadow?.upstreamPrimaryUrl ?? upstream.url);
const gateway = await createGateway({
  config: loadConfig({ GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', LEGACY_URL: origin.url, LOG_LEVEL: 'silent', REDIS_PORT: String(prod.port) }),
  table: {
    routes: [
      {
        id: 'toy-messages',
        methods: ['POST'],
        paths: ['/api/v1/messages'],
        mode: on ? 'shadow' : 'legacy',
        module: 'toy',
        shadow: { primary: 'legacy', sampleRate, maxInFlight: 16, maxBodyBytes: 1_000_000 },
      },
    ],
  },
  logger: log,
  modules: { toy: async () => toyModuleFactory(() => 'same', upstream.url) },
  ...(shadow ? { shadowSink: shadow.sink, adminExtensions: [shadow.admin] } : {}),
});
shadow?.attach(gateway);
console.log(JSON.stringify({ port: gateway.dataPort, admin: gateway.adminPort }));
exitWithParent();
const stop = async () => {
  await gateway.close();
  await shadow?.close();
  originRedis.disconnect();
  await origin.close();
  await upstream.close();
  await prod.stop();
  await box.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
