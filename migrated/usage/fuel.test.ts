import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { frozenClock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { consumeFuel } from './fuel.js';
import { UsageRecorder } from './record-usage.js';

const T = Date.parse('2026-11-26T11:52:01.000Z');
const DAY = 86_400_000;
const log = pino({ level: 'silent' });
const pricing = PricingTable.fromData({
  'claude-sonnet-4-20250514': { input_cost_per_token: 0.000003, output_cost_per_token: 0.000015, cache_creation_input_token_cost: 0.00000375, cache_read_input_token_cost: 3e-7 },
});
// pricingService total for this usage = 0.021 exactly (usage-accounting.md §3.3)
const usage = { input_tokens: 1000, output_tokens: 500, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10000 };

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());
beforeEach(async () => {
  await redis.flushdb();
});

async function wallet(entries: Array<{ id: string; remaining: string; expiresAt: number }>, balance: string) {
  for (const e of entries) {
    await redis.hset(`fuelpack:wallet:entry:${e.id}`, 'id', e.id, 'apiKeyId', 'k', 'amountRemaining', e.remaining, 'expiresAtMs', String(e.expiresAt));
    await redis.zadd('fuelpack:wallet:index:k', e.expiresAt, e.id);
  }
  const next = Math.min(...entries.map((e) => e.expiresAt));
  await redis.hset('apikey:k', 'id', 'k', 'name', 'fuel', 'apiKey', 'h', 'fuelBalance', balance, 'fuelEntries', String(entries.length), 'fuelNextExpiresAtMs', String(next), 'fuelUpdatedAtMs', '0');
}

describe('fuel packs', () => {
  it('recorded legacy behaviour: balance 1, cost 0.021 -> entry 0.979, used 0.021, and the key hash is rewritten with the STALE balance', async () => {
    await wallet([{ id: 'e1', remaining: '1', expiresAt: T + DAY }], '1');
    const rec = new UsageRecorder({ redis, clock: frozenClock(T), ids: scriptedIds(1), log, pricing });
    const r = await rec.recordOrThrow({ keyId: 'k', accountId: 'a', accountType: 'claude', model: 'claude-sonnet-4-20250514', usage, recorder: 'details' });
    expect(r).toEqual({ totalTokens: 13500, totalCost: 0.021, fuelCost: 0.021, billableCost: 0 });
    expect(await redis.hget('fuelpack:wallet:entry:e1', 'amountRemaining')).toBe('0.979');
    expect(await redis.get('fuelpack:used:total:k')).toBe('0.021');
    expect(await redis.get('fuelpack:used:daily:k:2026-11-26')).toBe('0.021');
    expect(await redis.ttl('fuelpack:used:daily:k:2026-11-26')).toBe(2764800);
    expect(await redis.hget('apikey:k', 'fuelBalance')).toBe('1'); // QUIRKS D7: stale overwrite
    expect(rec.lastStats.roundTrips).toBe(3);
    const [record] = await redis.lrange('usage:records:k', 0, 0);
    expect(JSON.parse(record!)).toMatchObject({ cost: 0.021, fuelCost: 0.021, billableCost: 0 });
    expect(await redis.get('usage:cost:total:k')).toBe('0.021'); // usage cost is still counted in full
  });

  it('consumes the earliest-expiring entries first, drops expired ones, and reports the new balance', async () => {
    await wallet(
      [
        { id: 'old', remaining: '5', expiresAt: T - 1 },
        { id: 'soon', remaining: '0.01', expiresAt: T + 1000 },
        { id: 'later', remaining: '2', expiresAt: T + DAY },
      ],
      '7.01',
    );
    const res = await consumeFuel(redis, 'k', 0.5, T, '2026-11-26');
    expect(res).toEqual({ fuelUsed: 0.5, fuelBalance: 1.51, fuelNextExpiresAtMs: T + DAY, fuelEntries: 1 });
    expect(await redis.exists('fuelpack:wallet:entry:old', 'fuelpack:wallet:entry:soon')).toBe(0);
    expect(await redis.hget('fuelpack:wallet:entry:later', 'amountRemaining')).toBe('1.51');
    expect(await redis.hgetall('apikey:k')).toMatchObject({ fuelBalance: '1.51', fuelEntries: '1', fuelNextExpiresAtMs: String(T + DAY), fuelUpdatedAtMs: String(T) });
  });

  it('cost beyond the wallet: uses what is there, balance floors at 0; refresh (cost 0) only expires', async () => {
    await wallet([{ id: 'e', remaining: '0.1', expiresAt: T + DAY }], '0.1');
    expect((await consumeFuel(redis, 'k', 1, T, '2026-11-26')).fuelUsed).toBe(0.1);
    expect(await redis.hget('apikey:k', 'fuelBalance')).toBe('0');
    await wallet([{ id: 'x', remaining: '3', expiresAt: T - 5 }], '3');
    const r = await consumeFuel(redis, 'k', 0, T, '2026-11-26');
    expect(r).toEqual({ fuelUsed: 0, fuelBalance: 0, fuelNextExpiresAtMs: 0, fuelEntries: 0 });
  });

  it('no fuel when the wallet is expired by the key fields: full billable cost, two round trips', async () => {
    await wallet([{ id: 'e', remaining: '1', expiresAt: T - 1 }], '1');
    const rec = new UsageRecorder({ redis, clock: frozenClock(T), ids: scriptedIds(1), log, pricing });
    const r = await rec.recordOrThrow({ keyId: 'k', accountId: 'a', model: 'claude-sonnet-4-20250514', usage, recorder: 'basic' });
    expect(r?.fuelCost).toBe(0);
    expect(r?.billableCost).toBe(0.021);
    expect(rec.lastStats.roundTrips).toBe(2);
  });
});
