import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pricingFile } from '../../test-support/paths.js';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import type { Clock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { PgStore } from '../pg/store.js';
import { countApiKeyUpserts, holdRowLock } from '../pg/row-lock.test-helper.js';
import { UsageRecorder } from './record-usage.js';

/**
 * The relay's recording path with the PostgreSQL dual-write: concurrent record() calls of one key
 * (key snapshot given, as the relay does) leave the api_keys row equal to the key hash Redis ends with,
 * with the upserts made while one is in flight collapsed into one statement (counted by a trigger).
 */
const log = pino({ level: 'silent' });
const pricing = new PricingTable(pricingFile).loadSync();
const keyId = '5d1c9a7e-2b4f-4a6c-8e0d-3f7b9c1a2e55';
const hashed = 'c'.repeat(64);
/** every reading of the clock is 1 ms later: each request stamps a later lastUsedAt */
let t = Date.parse('2026-11-26T16:00:00.000Z');
const ticking: Clock = { now: () => t++, timezoneOffsetHours: 8 };

let server: PrivateRedis;
let redis: Redis;
let pg: PrivateSchema;
let upserts: (id: string) => Promise<number>;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  pg = await privateSchema('gwrecpg');
  expect(await new PgStore(pg.sql, ticking, { warn: () => {} }).ensureSchema()).toBe(true);
  upserts = await countApiKeyUpserts(pg.sql);
});
afterAll(async () => {
  await pg?.drop();
  await server?.stop();
});

/** A key in Redis (hash + hash_map entry), a fresh store and recorder, and the relay's record input for it. */
async function keyCase(id: string, hashedKey: string, name: string) {
  const store = new PgStore(pg.sql, ticking, { warn: () => {} }, { timeoutMs: 20_000 });
  const record = { id, name, apiKey: hashedKey, isActive: 'true', createdAt: '2026-01-02T03:04:05.000Z', lastUsedAt: '' };
  await redis.hset(`apikey:${id}`, record);
  await redis.hset('apikey:hash_map', hashedKey, id);
  const recorder = new UsageRecorder({ redis, clock: ticking, ids: scriptedIds(1), log, pricing, pgStore: store });
  const input = { keyId: id, accountId: null, model: 'claude-sonnet-4-5-20250929', usage: { input_tokens: 10, output_tokens: 5 }, recorder: 'details' as const, keySnapshot: record };
  return { store, recorder, input };
}

it('50 concurrent record() of one key: the api_keys row ends as the Redis hash, blocked upserts collapse into one statement', async () => {
  const { store, recorder, input } = await keyCase(keyId, hashed, 'hot');
  expect(await recorder.record(input)).not.toBeNull();
  const count = () => upserts(keyId);
  expect(await count()).toBe(1);

  // hold the row lock: the next upsert blocks, the 49 after it can only queue behind it
  const lock = await holdRowLock(pg.sql, 'api_keys', keyId);
  const submitted = store.apiKeyWriteStats.submitted;
  const all = Promise.all(Array.from({ length: 50 }, () => recorder.record(input)));
  while (store.apiKeyWriteStats.submitted < submitted + 50) await new Promise((r) => setTimeout(r, 5));
  await lock.release();
  expect((await all).every((r) => r !== null)).toBe(true);
  await recorder.flush();

  expect(await count()).toBe(3);
  const inRedis = await redis.hgetall(`apikey:${keyId}`);
  const row = (await pg.sql.unsafe<Array<{ data: Record<string, string> }>>('select data from api_keys where id = $1', [keyId]))[0]!.data;
  expect(row).toEqual({ id: keyId, ...inRedis });
  expect(Number(await redis.hget(`usage:${keyId}`, 'totalRequests'))).toBe(51);
});

it('a busy key: the usage script leaves its hash in Redis, and the mirror reads the row once, when its upsert is sent', async () => {
  const key2 = '6e2d0b8f-3c5a-4b7d-9f1e-4a8c0d2b3f66';
  const hashed2 = 'd'.repeat(64);
  const { store, recorder, input } = await keyCase(key2, hashed2, 'busy');
  const hgetalls = async () => Number(/cmdstat_hgetall:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);

  expect(await recorder.record(input)).not.toBeNull();
  expect(await upserts(key2)).toBe(1);
  // the next upsert blocks on the row lock: the key is busy from then on
  const lock = await holdRowLock(pg.sql, 'api_keys', key2);
  const submitted = store.apiKeyWriteStats.submitted;
  const first = recorder.record(input);
  while (store.apiKeyWriteStats.submitted < submitted + 1) await new Promise((r) => setTimeout(r, 5));
  expect(store.apiKeyUpsertIdle(key2)).toBe(false);
  const before = await hgetalls();
  const rest = Promise.all(Array.from({ length: 20 }, () => recorder.record(input)));
  while (store.apiKeyWriteStats.submitted < submitted + 21) await new Promise((r) => setTimeout(r, 5));
  // the 20 requests' usage, recorded in the same loop turn, is one script: one touch (one HGETALL), none for a reply
  expect((await hgetalls()) - before).toBe(1);
  // a change made after the last request but before the pending upsert is sent reaches the row: it is read when sent
  await redis.hset(`apikey:${key2}`, 'name', 'renamed-later');
  await lock.release();
  expect(await first).not.toBeNull();
  expect((await rest).every((r) => r !== null)).toBe(true);
  await recorder.flush();
  expect((await hgetalls()) - before).toBe(2);
  expect(await upserts(key2)).toBe(3);
  const inRedis = await redis.hgetall(`apikey:${key2}`);
  expect(inRedis.name).toBe('renamed-later');
  const row = (await pg.sql.unsafe<Array<{ data: Record<string, string> }>>('select data from api_keys where id = $1', [key2]))[0]!.data;
  expect(row).toEqual({ id: key2, ...inRedis });
  expect(store.apiKeyUpsertIdle(key2)).toBe(true);
});

it('recordDetached (the relays): the same Redis writes and the same coalesced mirror, with nothing to wait for', async () => {
  const key3 = '8a3e1c0d-4b6f-4d8e-a0b2-5c9d1e3f4a77';
  const hashed3 = 'e'.repeat(64);
  const { store, recorder, input } = await keyCase(key3, hashed3, 'detached');
  const submitted = store.apiKeyWriteStats.submitted;
  const lock = await holdRowLock(pg.sql, 'api_keys', key3);
  for (let i = 0; i < 30; i++) expect(recorder.recordDetached(input)).toBeUndefined();
  while (store.apiKeyWriteStats.submitted < submitted + 30) await new Promise((r) => setTimeout(r, 5));
  await lock.release();
  await recorder.flush();
  expect(Number(await redis.hget(`usage:${key3}`, 'totalRequests'))).toBe(30);
  // the first upsert went out at once, the 29 submitted while it was blocked collapsed into one
  expect(await upserts(key3)).toBe(2);
  const inRedis = await redis.hgetall(`apikey:${key3}`);
  const row = (await pg.sql.unsafe<Array<{ data: Record<string, string> }>>('select data from api_keys where id = $1', [key3]))[0]!.data;
  expect(row).toEqual({ id: key3, ...inRedis });
});
