import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir, legacyTracesSecondaryDir, pricingFile } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { diffRedisSnapshots, dumpRedisSnapshot, loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { frozenClock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { UsageRecorder, type RecordUsageInput } from './record-usage.js';

/**
 * Every recorded exchange that records usage: load redis.before.json, run the recorder with the
 * clock frozen at the recorded usage-record timestamp, compare with redis.after.json.
 *
 * Inputs are what the route hands the recorder (key id, account, model, token counts,
 * cache_creation split); they are read from the exchange (the upstream response body for
 * non-stream requests, the recorded usage record otherwise) and everything the recorder
 * derives (costs, counters, keys, TTLs, record bytes, billing event) is compared.
 */

const log = pino({ level: 'silent' });
const pricing = new PricingTable(pricingFile).loadSync();

/** Written in the same exchanges by the relay / scheduler / auth, not by the usage recorder. */
const NOT_RECORDER_KEYS = [
  /^claude:account:/, // relay: lastUsedAt, lastRequestTime, session window (engineer E)
  /^claude_console_account:/, // console relay lastUsedAt
  /^unified_claude_session_mapping:/, // scheduler stickiness
  /^claude_code_headers:/,
  /^fmt_claude_req:stainless_headers:/,
  /^claude_account:.*:5xx_errors$/,
  /^temp_unavailable:/,
  /^session:/,
  'billing:events', // compared separately below (entry ids and eventId are Redis/run generated)
];
/** Timestamp noise (traces README): the legacy stamps lastUsedAt a few ms before the record timestamp. */
const NOISE_FIELDS = [{ key: /^apikey:[0-9a-f-]{36}$/, fields: ['lastUsedAt'] }];

const USAGE_TRACES = ['04', '05', '06', '07', '08', '09', '10', '11', '14', '15', '22', '27', '37', '40'];

interface Trace {
  name: string;
  dir: string;
  before: RedisSnapshot;
  after: RedisSnapshot;
}

function loadTrace(root: string, prefix: string): Trace {
  const name = readdirSync(root).find((d) => d.startsWith(`${prefix}-`))!;
  const dir = join(root, name);
  const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RedisSnapshot;
  return { name, dir, before: read('redis.before.json'), after: read('redis.after.json') };
}

interface RecordJson {
  timestamp: string;
  model: string;
  accountId: string | null;
  accountType?: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  ephemeral5mTokens?: number;
  ephemeral1hTokens?: number;
}

/** The newest usage record the exchange added, and its key id. */
function newRecord(t: Trace): { keyId: string; rec: RecordJson } {
  for (const [k, v] of Object.entries(t.after)) {
    if (!k.startsWith('usage:records:') || v.type !== 'list') continue;
    const before = t.before[k];
    const prevLen = before && before.type === 'list' ? before.value.length : 0;
    if (v.value.length > prevLen || (before?.type === 'list' && before.value[0] !== v.value[0])) {
      return { keyId: k.slice('usage:records:'.length), rec: JSON.parse(v.value[0]!) as RecordJson };
    }
  }
  throw new Error(`${t.name}: no new usage record`);
}

function inputFor(t: Trace): { input: RecordUsageInput; at: number } {
  const { keyId, rec } = newRecord(t);
  const details = 'accountType' in rec;
  const usage: RecordUsageInput['usage'] = {
    input_tokens: rec.inputTokens,
    output_tokens: rec.outputTokens,
    cache_creation_input_tokens: rec.cacheCreateTokens,
    cache_read_input_tokens: rec.cacheReadTokens,
  };
  if (details && ((rec.ephemeral5mTokens ?? 0) > 0 || (rec.ephemeral1hTokens ?? 0) > 0)) {
    usage.cache_creation = { ephemeral_5m_input_tokens: rec.ephemeral5mTokens, ephemeral_1h_input_tokens: rec.ephemeral1hTokens };
  }
  if (!details) {
    // non-stream: the route reads the upstream JSON body; check the counts came from there
    const body = JSON.parse(readFileSync(join(t.dir, 'response.body'), 'utf8')) as { usage: Record<string, number> };
    expect(body.usage.input_tokens, t.name).toBe(rec.inputTokens);
    expect(body.usage.output_tokens, t.name).toBe(rec.outputTokens);
    expect(body.usage.cache_creation_input_tokens, t.name).toBe(rec.cacheCreateTokens);
  }
  return {
    input: {
      keyId,
      accountId: rec.accountId,
      accountType: rec.accountType ?? null,
      model: rec.model,
      usage,
      recorder: details ? 'details' : 'basic',
    },
    at: Date.parse(rec.timestamp),
  };
}

type StreamEntry = [string, string[]];
function billingEvents(s: RedisSnapshot): Array<Record<string, unknown>> {
  const e = s['billing:events'];
  if (!e || e.type !== 'stream') return [];
  return (e.value as StreamEntry[]).map(([, fields]) => {
    const ev = JSON.parse(fields[1]!) as Record<string, unknown>;
    // noise: eventId = Date.now()-random, top-level timestamp = a later new Date()
    delete ev.eventId;
    delete ev.timestamp;
    return ev;
  });
}

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());

async function replay(t: Trace): Promise<{ actual: RedisSnapshot; result: unknown; recorder: UsageRecorder }> {
  await loadRedisSnapshot(redis, t.before);
  const { input, at } = inputFor(t);
  const recorder = new UsageRecorder({ redis, clock: frozenClock(at, 8), ids: scriptedIds(1), log, pricing });
  const result = await recorder.recordOrThrow(input);
  return { actual: await dumpRedisSnapshot(redis), result, recorder };
}

describe.each([
  ['primary', legacyTracesDir],
  ['secondary', legacyTracesSecondaryDir],
])('usage recording vs recorded exchanges (%s run)', (_run, root) => {
  it.each(USAGE_TRACES.filter((p) => existsSync(root) && readdirSync(root).some((d) => d.startsWith(`${p}-`))))(
    'exchange %s: same keys, fields, values and TTLs',
    async (prefix) => {
      const t = loadTrace(root, prefix);
      const { actual, recorder } = await replay(t);
      const diffs = diffRedisSnapshots(t.after, actual, { ignoreKeys: NOT_RECORDER_KEYS, ignoreHashFields: NOISE_FIELDS, ttlTolerance: 1 });
      expect(diffs, t.name).toEqual([]);
      expect(billingEvents(actual), `${t.name} billing:events`).toEqual(billingEvents(t.after));
      expect(recorder.lastStats.roundTrips, t.name).toBe(2);
    },
  );
});

describe('recorder with the key snapshot the request already read (one EVALSHA)', () => {
  it.each(USAGE_TRACES.filter((p) => readdirSync(legacyTracesDir).some((d) => d.startsWith(`${p}-`))))(
    'exchange %s: Redis after-state identical to the read path, in one round trip',
    async (prefix) => {
      const t = loadTrace(legacyTracesDir, prefix);
      const viaRead = await replay(t);
      await loadRedisSnapshot(redis, t.before);
      const { input, at } = inputFor(t);
      const snap = await redis.hgetall(`apikey:${input.keyId}`);
      const recorder = new UsageRecorder({ redis, clock: frozenClock(at, 8), ids: scriptedIds(1), log, pricing });
      const result = await recorder.recordOrThrow({ ...input, keySnapshot: snap });
      const actual = await dumpRedisSnapshot(redis);
      expect(diffRedisSnapshots(viaRead.actual, actual, { ttlTolerance: 1, ignoreKeys: ['billing:events'] }), t.name).toEqual([]);
      expect(billingEvents(actual), t.name).toEqual(billingEvents(viaRead.actual));
      expect(result).toEqual(viaRead.result);
      expect(recorder.lastStats.roundTrips, t.name).toBe(1);
    },
  );

  const at = Date.parse('2026-11-26T11:52:01.000Z');
  const base = { accountId: 'a', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 3, output_tokens: 4 }, recorder: 'basic' as const };

  it('the key hash is touched as it is at recording time: an edit made during the request is not overwritten', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k7', 'id', 'k7', 'apiKey', 'h7', 'isActive', 'true', 'name', 'n');
    const snap = await redis.hgetall('apikey:k7');
    await redis.hset('apikey:k7', 'isActive', 'false'); // admin disables the key mid-request
    const rec = new UsageRecorder({ redis, clock: frozenClock(at), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ ...base, keyId: 'k7', keySnapshot: snap });
    expect(await redis.hgetall('apikey:k7')).toEqual({ id: 'k7', apiKey: 'h7', isActive: 'false', name: 'n', lastUsedAt: new Date(at).toISOString() });
    expect(await redis.hget('apikey:hash_map', 'h7')).toBe('k7');
    expect(await redis.ttl('apikey:k7')).toBe(31_536_000);
    expect(await redis.hget('account_usage:a', 'totalAllTokens')).toBe('7');
  });

  it('only api_key:{id} exists: it is copied to apikey:{id} with lastUsedAt (legacy getApiKey fallback)', async () => {
    await redis.flushdb();
    await redis.hset('api_key:k8', 'id', 'k8', 'apiKey', 'h8', 'lastUsedAt', 'old', 'name', 'x');
    const rec = new UsageRecorder({ redis, clock: frozenClock(at), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ ...base, keyId: 'k8', keySnapshot: { id: 'k8', apiKey: 'h8', name: 'x' } });
    expect(await redis.hgetall('apikey:k8')).toEqual({ id: 'k8', apiKey: 'h8', lastUsedAt: new Date(at).toISOString(), name: 'x' });
    expect(await redis.hget('apikey:hash_map', 'h8')).toBe('k8');
  });

  it('a key deleted during the request is not re-created', async () => {
    await redis.flushdb();
    const rec = new UsageRecorder({ redis, clock: frozenClock(at), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ ...base, keyId: 'k9', keySnapshot: { id: 'k9', apiKey: 'h9' } });
    expect(await redis.exists('apikey:k9', 'apikey:hash_map')).toBe(0);
    expect(await redis.hget('usage:k9', 'totalRequests')).toBe('1');
  });

  it("a turn's usage is on the connection before what waits for it (afterWrite): a command sent from there is applied after it", async () => {
    await redis.flushdb();
    await redis.hset('apikey:k10', 'id', 'k10', 'apiKey', 'h10');
    const rec = new UsageRecorder({ redis, clock: frozenClock(at), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ ...base, keyId: 'k10', keySnapshot: { id: 'k10', apiKey: 'h10' } }); // loads the script
    await redis.flushdb();
    await redis.hset('apikey:k10', 'id', 'k10', 'apiKey', 'h10');
    void rec.record({ ...base, keyId: 'k10', keySnapshot: { id: 'k10', apiKey: 'h10' } });
    void rec.record({ ...base, keyId: 'k10', keySnapshot: { id: 'k10', apiKey: 'h10' } });
    // not yet: the turn's writes go out in its check phase
    let ran = false;
    const seen = new Promise<string | null>((resolve) =>
      rec.afterWrite(() => {
        ran = true;
        resolve(redis.hget('usage:k10', 'totalRequests'));
      }),
    );
    expect(ran).toBe(false);
    expect(await seen).toBe('2');
    // nothing pending: at once
    let now = false;
    rec.afterWrite(() => (now = true));
    expect(now).toBe(true);
  });

  it('a key with a fuel pack keeps the read path (QUIRKS D7 rewrite of the pre-consumption fuel fields)', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k11', 'id', 'k11', 'apiKey', 'h11', 'fuelBalance', '0');
    const rec = new UsageRecorder({ redis, clock: frozenClock(at), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ ...base, keyId: 'k11', keySnapshot: { id: 'k11', apiKey: 'h11', fuelBalance: '5' } });
    expect(rec.lastStats.roundTrips).toBe(2);
  });
});

describe('recorder details', () => {
  it('returns the legacy result shape (rounded costs) and writes a non-stream record without billing event', async () => {
    const t = loadTrace(legacyTracesDir, '04');
    const { result } = await replay(t);
    expect(result).toEqual({ totalTokens: 105, totalCost: 0.000364, fuelCost: 0, billableCost: 0.000364 });
    expect(await redis.exists('billing:events')).toBe(0);
  });

  it('output-as-total quirk: a cache-only usage records output = total at key level only', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k1', 'id', 'k1', 'name', 'n', 'apiKey', 'h1');
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ keyId: 'k1', accountId: 'acc', model: 'claude-sonnet-4-5-20250929', usage: { cache_read_input_tokens: 5000 }, recorder: 'basic' });
    expect(await redis.hget('usage:k1', 'totalOutputTokens')).toBe('5000');
    expect(await redis.hget('usage:k1', 'totalAllTokens')).toBe('10000');
    expect(await redis.hget('account_usage:acc', 'totalOutputTokens')).toBe('0');
    expect(await redis.hget('account_usage:acc', 'totalAllTokens')).toBe('5000');
  });

  it('Opus on a Claude account writes the weekly Opus keys; the basic recorder never does', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k2', 'id', 'k2', 'name', 'n', 'apiKey', 'h2');
    const clock = frozenClock(Date.parse('2026-11-26T11:52:01.000Z'));
    const rec = new UsageRecorder({ redis, clock, ids: scriptedIds(1), log, pricing });
    const usage = { input_tokens: 1000, output_tokens: 500, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10000, cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 0 } };
    const r = await rec.recordOrThrow({ keyId: 'k2', accountId: 'acc-1', accountType: 'claude', model: 'claude-opus-4-1-20250805', usage, recorder: 'details' });
    expect(r?.totalCost).toBe(0.105);
    expect(await redis.get('usage:opus:weekly:k2:2026-W48')).toBe('0.105');
    expect(await redis.ttl('usage:opus:weekly:k2:2026-W48')).toBe(1209600);
    expect(await redis.get('usage:opus:total:k2')).toBe('0.105');
    const [record] = await redis.lrange('usage:records:k2', 0, 0);
    // usage-accounting.md §2.7, recorded from the legacy with MONITOR
    expect(record).toBe(
      '{"timestamp":"2026-11-26T11:52:01.000Z","model":"claude-opus-4-1-20250805","accountId":"acc-1","accountType":"claude","inputTokens":1000,"outputTokens":500,"cacheCreateTokens":2000,"cacheReadTokens":10000,"ephemeral5mTokens":2000,"ephemeral1hTokens":0,"totalTokens":13500,"cost":0.105,"fuelCost":0,"billableCost":0.105,"costBreakdown":{"input":0.015000000000000001,"output":0.0375,"cacheCreate":0.0375,"cacheRead":0.015000000000000001,"ephemeral5m":0.0375,"ephemeral1h":0},"isLongContext":false}',
    );
    await redis.flushdb();
    await redis.hset('apikey:k2', 'id', 'k2', 'apiKey', 'h2');
    await rec.recordOrThrow({ keyId: 'k2', accountId: 'acc-1', model: 'claude-opus-4-1-20250805', usage, recorder: 'basic' });
    expect(await redis.exists('usage:opus:total:k2')).toBe(0);
  });

  it('long-context [1m] requests add the long-context fields and price input/output at the 1M rates', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k3', 'id', 'k3', 'apiKey', 'h3');
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    const r = await rec.recordOrThrow({ keyId: 'k3', accountId: 'a3', accountType: 'claude', model: 'claude-sonnet-4-20250514[1m]', usage: { input_tokens: 250000, output_tokens: 1000 }, recorder: 'details' });
    expect(r?.totalCost).toBe(Number((250000 * 0.000006 + 1000 * 0.0000225).toFixed(6)));
    expect(await redis.hget('usage:k3', 'totalLongContextRequests')).toBe('1');
    expect(await redis.hget('account_usage:a3', 'totalLongContextInputTokens')).toBe('250000');
    const [record] = await redis.lrange('usage:records:k3', 0, 0);
    expect(JSON.parse(record!).isLongContext).toBe(true);
  });

  it('rate-limit window counters get the rounded billable cost and the token total', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k4', 'id', 'k4', 'apiKey', 'h4');
    await redis.set('rate_limit:tokens:k4', '0', 'PX', 60000);
    await redis.set('rate_limit:cost:k4', '0', 'PX', 60000);
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ keyId: 'k4', accountId: 'a', accountType: 'claude', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 49, output_tokens: 11, cache_creation_input_tokens: 12, cache_read_input_tokens: 34, cache_creation: { ephemeral_5m_input_tokens: 12, ephemeral_1h_input_tokens: 0 } }, recorder: 'details', rateLimitWindow: true });
    expect(await redis.get('rate_limit:tokens:k4')).toBe('106');
    expect(await redis.get('rate_limit:cost:k4')).toBe('0.000367');
    expect(await redis.pttl('rate_limit:cost:k4')).toBeGreaterThan(0);
  });

  it('a missing API key writes token counters and the record but no key hash or account usage (legacy skip)', async () => {
    await redis.flushdb();
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    await rec.recordOrThrow({ keyId: 'gone', accountId: 'a', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 1, output_tokens: 1 }, recorder: 'basic' });
    expect(await redis.exists('apikey:gone', 'account_usage:a')).toBe(0);
    expect(await redis.hget('usage:gone', 'totalRequests')).toBe('1');
    expect(await redis.llen('usage:records:gone')).toBe(1);
  });

  it('wrong type under a key: that write is rejected, the others land, record() does not throw', async () => {
    await redis.flushdb();
    await redis.hset('apikey:k5', 'id', 'k5', 'apiKey', 'h5');
    await redis.set('usage:k5', 'corrupt'); // a string where a hash belongs
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    const r = await rec.record({ keyId: 'k5', accountId: 'a', model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 3, output_tokens: 4 }, recorder: 'basic' });
    expect(r?.totalTokens).toBe(7);
    expect(await redis.get('usage:k5')).toBe('corrupt');
    expect(await redis.hget('account_usage:a', 'totalAllTokens')).toBe('7');
  });

  it('corrupted apikey type: record() returns null (logged), nothing is half-written', async () => {
    await redis.flushdb();
    await redis.set('apikey:k6', 'not-a-hash');
    const rec = new UsageRecorder({ redis, clock: frozenClock(Date.parse('2026-11-26T11:52:01.000Z')), ids: scriptedIds(1), log, pricing });
    const r = await rec.record({ keyId: 'k6', accountId: 'a', model: 'm', usage: { input_tokens: 3 }, recorder: 'basic' });
    expect(r).toBeNull();
    expect(await redis.dbsize()).toBe(1);
  });
});
