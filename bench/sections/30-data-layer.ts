/**
 * Data layer: usage recording for one request. Our recorder (2 round trips: HGETALL, one EVALSHA) vs the
 * legacy's command structure replayed with the same commands in its await order (token pipeline,
 * HGETALL, cost INCRBYFLOATs, 3 sequential key-hash writes, account Promise.all, record MULTI,
 * XADD: 9 sequential round trips). Commands are counted by Redis itself (INFO commandstats).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { Redis as RedisClient } from 'ioredis';
import type { Redis } from 'ioredis';
import { pricingFile } from '../../test-support/paths.js';
import { startPrivateRedis } from '../../test-support/redis-server.js';
import { PricingTable } from '../../migrated/pricing/pricing-table.js';
import { pricingServiceCost } from '../../migrated/pricing/cost.js';
import { frozenClock } from '../../migrated/runtime/clock.js';
import { scriptedIds } from '../../migrated/runtime/ids.js';
import { bucketsAt, keys, ttl } from '../../migrated/storage/keys.js';
import { UsageMemo } from '../../migrated/usage/usage-memo.js';
import { queueAccountUsage } from '../../migrated/usage/account-usage.js';
import { queueDailyCost } from '../../migrated/usage/cost-keys.js';
import { queueTokenUsage } from '../../migrated/usage/token-usage.js';
import { UsageRecorder, type RecordUsageInput } from '../../migrated/usage/record-usage.js';
import { pipelineOps } from '../../migrated/storage/write-batch.js';

export const title = 'data layer: usage recording per request (ours vs legacy command structure)';

const N = 300;
const usage = { input_tokens: 49, output_tokens: 11, cache_creation_input_tokens: 12, cache_read_input_tokens: 34, cache_creation: { ephemeral_5m_input_tokens: 12, ephemeral_1h_input_tokens: 0 } };
const input: RecordUsageInput = { keyId: 'bench-key', accountId: 'bench-acc', accountType: 'claude', model: 'claude-sonnet-4-5-20250929', usage, recorder: 'details' };

async function commandCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info' && m[1] !== 'config') n += Number(m[2]);
  return n;
}

async function seed(redis: Redis): Promise<void> {
  await redis.flushdb();
  const fields: string[] = [];
  for (let i = 0; i < 38; i++) fields.push(`f${i}`, i % 3 ? '' : 'value');
  await redis.hset(keys.apiKey('bench-key'), 'id', 'bench-key', 'name', 'bench', 'apiKey', 'h'.repeat(64), ...fields);
}

/** The legacy's sequence: same commands, the legacy's awaits (each await = one round trip). */
async function legacyShaped(redis: Redis, pricing: PricingTable, nowMs: number): Promise<void> {
  const b = bucketsAt(nowMs, 8);
  // a fresh memo per call: the legacy computes every name and text again for each request
  const memo = new UsageMemo();
  const cost = pricingServiceCost(pricing, usage, input.model);
  const p1 = redis.pipeline();
  queueTokenUsage(pipelineOps(p1), { keyId: input.keyId, tokens: 106, inputTokens: 49, outputTokens: 11, cacheCreateTokens: 12, cacheReadTokens: 34, model: input.model, ephemeral5mTokens: 12, ephemeral1hTokens: 0, isLongContextRequest: false, buckets: b, nowMs }, memo);
  p1.expire(keys.systemMetricsMinute(Math.floor(nowMs / 60000)), 'NaN' as unknown as number); // the legacy's failing EXPIRE
  await p1.exec();
  const keyData = await redis.hgetall(keys.apiKey(input.keyId));
  const p2 = redis.pipeline();
  queueDailyCost(pipelineOps(p2), input.keyId, cost.totalCost, b, memo);
  await p2.exec(); // Promise.all of 7 commands: one round trip on one connection
  keyData.lastUsedAt = new Date(nowMs).toISOString();
  await redis.hset(keys.apiKeyHashMap(), keyData.apiKey!, input.keyId);
  await redis.hset(keys.apiKey(input.keyId), keyData);
  await redis.expire(keys.apiKey(input.keyId), ttl.apiKey);
  const p3 = redis.pipeline();
  queueAccountUsage(pipelineOps(p3), pricing, { accountId: 'bench-acc', inputTokens: 49, outputTokens: 11, cacheCreateTokens: 12, cacheReadTokens: 34, model: input.model, isLongContextRequest: false, buckets: b }, memo);
  await p3.exec();
  await redis.multi().lpush(keys.usageRecords(input.keyId), '{}').ltrim(keys.usageRecords(input.keyId), 0, 199).expire(keys.usageRecords(input.keyId), ttl.usageRecords).exec();
  await redis.xadd(keys.billingEvents(), 'MAXLEN', '~', '100000', '*', 'data', '{}');
}

/** A loopback TCP relay that delays every chunk by `delayMs` each way (a LAN-like round trip). */
async function delayingProxy(targetPort: number, delayMs: number): Promise<{ port: number; server: Server }> {
  const server = createServer((client: Socket) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const relay = (from: Socket, to: Socket) => from.on('data', (chunk) => setTimeout(() => to.write(chunk), delayMs));
    relay(client, upstream);
    relay(upstream, client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close).on('error', close);
    upstream.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server };
}

export async function run(): Promise<void> {
  const server = await startPrivateRedis();
  try {
    const redis = server.client();
    const pricing = new PricingTable(pricingFile).loadSync();
    const clock = frozenClock(Date.parse('2026-11-26T11:52:01.000Z'));
    const recorder = new UsageRecorder({ redis, clock, ids: scriptedIds(1), log: pino({ level: 'silent' }), pricing });

    const measure = async (fn: () => Promise<unknown>) => {
      await seed(redis);
      for (let i = 0; i < 20; i++) await fn(); // warm-up
      await seed(redis);
      await redis.config('RESETSTAT');
      const t0 = performance.now();
      for (let i = 0; i < N; i++) await fn();
      const ms = (performance.now() - t0) / N;
      const cmds = ((await commandCount(redis)) - 1) / N; // minus the seed-free baseline (none)
      return { ms, cmds };
    };

    // alternate the two sides and keep each side's best run (JIT warm-up and noise from the shared machine)
    let ours = { ms: Infinity, cmds: 0 };
    let legacy = { ms: Infinity, cmds: 0 };
    for (let round = 0; round < 3; round++) {
      const o = await measure(() => recorder.recordOrThrow(input));
      if (o.ms < ours.ms) ours = o;
      const l = await measure(() => legacyShaped(redis, pricing, clock.now()));
      if (l.ms < legacy.ms) legacy = l;
    }
    const ourTrips = recorder.lastStats.roundTrips;
    const rows = [
      ['', 'round trips', 'commands (Redis count)', 'ms / request'],
      ['legacy structure', '9', legacy.cmds.toFixed(0), legacy.ms.toFixed(3)],
      ['ours', String(ourTrips), ours.cmds.toFixed(0), ours.ms.toFixed(3)],
      ['ratio legacy/ours', (9 / ourTrips).toFixed(1), (legacy.cmds / ours.cmds).toFixed(2), (legacy.ms / ours.ms).toFixed(2)],
    ];
    // same two sides through a proxy that delays each chunk (setTimeout 0.25 ms, i.e. >= 1 ms
    // each way in Node): the measured PING round trip is printed with the result
    const proxy = await delayingProxy(server.port, 0.25);
    const far = new RedisClient({ port: proxy.port, host: '127.0.0.1' });
    try {
      const farRecorder = new UsageRecorder({ redis: far, clock, ids: scriptedIds(1), log: pino({ level: 'silent' }), pricing });
      const timeIt = async (fn: () => Promise<unknown>, n = 100) => {
        const t0 = performance.now();
        for (let i = 0; i < n; i++) await fn();
        return (performance.now() - t0) / n;
      };
      await seed(redis);
      const rtt = await timeIt(() => far.ping(), 50);
      const farOurs = await timeIt(() => farRecorder.recordOrThrow(input));
      const farLegacy = await timeIt(() => legacyShaped(far, pricing, clock.now()));
      rows.push([`via proxy, PING ${rtt.toFixed(2)} ms:`, '', '', ''], ['  legacy structure', '9', '', farLegacy.toFixed(3)], ['  ours', String(ourTrips), '', farOurs.toFixed(3)], ['  ratio legacy/ours', '', '', (farLegacy / farOurs).toFixed(2)]);
    } finally {
      far.disconnect();
      proxy.server.close();
    }
    for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(20) : c.padStart(24))).join(''));
    console.log(`(${N} requests each on a private loopback Redis; our count includes the EVALSHA and the HGETALL of api_key:{id}; the proxy rows show the round-trip cost)`);
  } finally {
    await server.stop();
  }
}
