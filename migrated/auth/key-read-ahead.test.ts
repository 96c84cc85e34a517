import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { KeyReadAhead } from './key-read-ahead.js';

let server: PrivateRedis;
let redis: Redis;
const clock = frozenClock(Date.parse('2026-11-26T12:00:00.000Z'), 8);
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());
beforeEach(async () => {
  await redis.flushdb();
  await redis.hset('apikey:hash_map', 'h1', 'k1');
  await redis.hset('apikey:k1', 'name', 'one', 'claudeConsoleAccountId', 'c1');
  await redis.hset('claude_console_account:c1', 'id', 'c1', 'isActive', 'true');
  await redis.set('usage:cost:total:k1', '1.5');
});

const planner = (r: Record<string, string>) => (r['claudeConsoleAccountId'] ? [{ cmd: 'hgetall' as const, key: `claude_console_account:${r['claudeConsoleAccountId']}` }] : []);

describe('KeyReadAhead', () => {
  it('no hint: null (ordinary lookup); after remember: key, costs and planned reads in one round trip (one EVALSHA)', async () => {
    const ra = new KeyReadAhead(planner);
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
    ra.remember('h1', { id: 'k1', name: 'one', claudeConsoleAccountId: 'c1' });
    const got = await ra.lookup(redis, clock, 'h1');
    expect(got?.record).toEqual({ id: 'k1', name: 'one', claudeConsoleAccountId: 'c1' });
    expect(got?.costs.totalCost).toBe(1.5);
    expect(got?.readAhead.get('hgetall', 'claude_console_account:c1')).toEqual({ id: 'c1', isActive: 'true' });
  });

  it('the hash map names another id now (key regenerated / deleted): null and the hint is dropped', async () => {
    const ra = new KeyReadAhead(planner);
    ra.remember('h1', { id: 'k1' });
    await redis.hset('apikey:hash_map', 'h1', 'k2');
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
    await redis.hdel('apikey:hash_map', 'h1');
    ra.remember('h1', { id: 'k1' });
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
  });

  it('the key hash is gone: null (findByHash then removes the stale map entry)', async () => {
    const ra = new KeyReadAhead(planner);
    ra.remember('h1', { id: 'k1' });
    await redis.del('apikey:k1');
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
  });

  it('the record now plans other reads: no read-ahead replies are handed on', async () => {
    const ra = new KeyReadAhead(planner);
    ra.remember('h1', { id: 'k1', claudeConsoleAccountId: 'c1' });
    await redis.hset('apikey:k1', 'claudeConsoleAccountId', 'c2');
    const got = await ra.lookup(redis, clock, 'h1');
    expect(got?.record['claudeConsoleAccountId']).toBe('c2');
    expect(got?.readAhead.has('hgetall', 'claude_console_account:c1')).toBe(false);
  });

  it('planned replies keep their types; a failing planned read is left to the route, the rest still handed on', async () => {
    const plan = () => [
      { cmd: 'exists' as const, key: 'temp:c1' },
      { cmd: 'get' as const, key: 'missing' },
      { cmd: 'get' as const, key: 'claude_console_account:c1' }, // WRONGTYPE
      { cmd: 'hgetall' as const, key: 'nothing:here' },
    ];
    await redis.set('temp:c1', '1');
    const ra = new KeyReadAhead(plan);
    ra.remember('h1', { id: 'k1' });
    const got = await ra.lookup(redis, clock, 'h1');
    expect(got?.readAhead.get('exists', 'temp:c1')).toBe(1);
    expect(got?.readAhead.has('get', 'missing')).toBe(true);
    expect(got?.readAhead.get('get', 'missing')).toBeNull();
    expect(got?.readAhead.has('get', 'claude_console_account:c1')).toBe(false);
    expect(got?.readAhead.get('hgetall', 'nothing:here')).toEqual({});
  });

  it('a key read that fails (hash map of the wrong type): null, the hint is dropped', async () => {
    const ra = new KeyReadAhead(planner);
    ra.remember('h1', { id: 'k1' });
    await redis.del('apikey:hash_map');
    await redis.set('apikey:hash_map', 'oops');
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
    await redis.del('apikey:hash_map');
    await redis.hset('apikey:hash_map', 'h1', 'k1');
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull(); // no hint any more: ordinary lookup
  });

  it('hints are bounded (oldest dropped)', async () => {
    const ra = new KeyReadAhead(planner, 2);
    ra.remember('h1', { id: 'k1' });
    ra.remember('hx', { id: 'kx' });
    ra.remember('hy', { id: 'ky' });
    expect(await ra.lookup(redis, clock, 'h1')).toBeNull();
  });
});

describe('KeyReadAhead record fields', () => {
  it('field names that are Object.prototype members or __proto__ come back as own fields', async () => {
    await redis.hset('apikey:k1', 'constructor', 'c', '__proto__', 'p', 'toString', 't');
    const ra = new KeyReadAhead(planner);
    ra.remember('h1', { id: 'k1' });
    const got = await ra.lookup(redis, clock, 'h1');
    expect(Object.getPrototypeOf(got!.record)).toBe(Object.prototype);
    expect(Object.keys(got!.record)).toEqual(['id', 'name', 'claudeConsoleAccountId', 'constructor', '__proto__', 'toString']);
    expect((got!.record as Record<string, string>)['__proto__']).toBe('p');
    expect((got!.record as Record<string, string>)['constructor']).toBe('c');
  });
});

describe('KeyReadAhead reply decoding (one JSON text from cjson)', () => {
  it('values come back exactly as HGETALL / GET / MGET give them: quotes, backslashes, slashes, control characters, non-ASCII, invalid UTF-8, numbers as text', async () => {
    const odd = ['a "quoted" \\ back\\slash / slash', 'tab\tnew\nline\u0000nul\u001f', 'ü 你好 🙂', '1.50', '', '[]', '{}', 'null', 'true', '  spaced  '];
    const fields: string[] = [];
    odd.forEach((v, i) => fields.push(`f${i}`, v));
    await redis.hset('apikey:k1', ...fields);
    await redis.hset('claude_console_account:c1', ...fields);
    await redis.hset('apikey:k1', 'bad', Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xe4, 0xbd]));
    await redis.set('plain', odd[0]!);
    await redis.set('usage:cost:daily:k1:2026-11-26', '0.000123');
    const plan = () => [
      { cmd: 'hgetall' as const, key: 'claude_console_account:c1' },
      { cmd: 'get' as const, key: 'plain' },
    ];
    const ra = new KeyReadAhead(plan);
    ra.remember('h1', { id: 'k1' });
    const got = (await ra.lookup(redis, clock, 'h1'))!;
    expect(got.record).toEqual({ id: 'k1', ...(await redis.hgetall('apikey:k1')) });
    expect(Object.keys(got.record)).toEqual(['id', ...Object.keys(await redis.hgetall('apikey:k1'))]);
    expect(got.record['bad' as 'id']).toBe(Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xe4, 0xbd]).toString('utf8'));
    expect(got.readAhead.get('hgetall', 'claude_console_account:c1')).toEqual(await redis.hgetall('claude_console_account:c1'));
    expect(got.readAhead.get('get', 'plain')).toBe(odd[0]);
    expect(got.costs.dailyCost).toBe(0.000123);
    expect(got.costs.totalCost).toBe(1.5);
    expect(got.costs.fuelUsedDaily).toBe(0);
  });
});
