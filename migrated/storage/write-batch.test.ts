import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { WriteBatch } from './write-batch.js';

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());

describe('WriteBatch (one EVALSHA)', () => {
  it('applies commands in order with the legacy float formatting and reports per-command failures', async () => {
    await redis.flushdb();
    await redis.set('wrong', 'string');
    const b = new WriteBatch();
    b.incrbyfloat('f', 0.1); // Redis sums in long double: 0.1 + 0.2 reads back as 0.3
    b.incrbyfloat('f', 0.2);
    b.incrbyfloat('g', 0.1 + 0.2); // the JS double's String() goes over the wire unchanged
    b.hincrby('h', 'a', 1);
    b.hincrby('wrong', 'a', 1);
    b.hset('h', 'x', '', 'y', 'z');
    b.expire('h', 100);
    b.lpush('l', 'one');
    b.lpush('l', 'two');
    b.ltrim('l', 0, 0);
    b.xadd('s', 'MAXLEN', '~', '100000', '*', 'data', '{}');
    expect(b.length).toBe(11);
    expect(b.keys).toEqual(['f', 'g', 'h', 'wrong', 'l', 's']);
    const failed = await b.apply(redis);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatch(/^HINCRBY wrong: WRONGTYPE/);
    expect(await redis.get('f')).toBe('0.3');
    expect(await redis.get('g')).toBe('0.30000000000000004');
    expect(await redis.hgetall('h')).toEqual({ a: '1', x: '', y: 'z' });
    expect(await redis.ttl('h')).toBe(100);
    expect(await redis.lrange('l', 0, -1)).toEqual(['two']);
    expect(await redis.xlen('s')).toBe(1);
  });

  it('arguments are binary-safe in the packed form (colons, digits, multi-byte characters, NUL, empty)', async () => {
    await redis.flushdb();
    const b = new WriteBatch();
    const odd = ['12:34', '3:abc', 'héllo 漢字 😀', 'a\u0000b', '', ':'];
    b.hset('h:odd', ...odd.flatMap((v, i) => [`f${i}:${v}`, v]));
    b.lpush('l:odd', '{"a":"b:c","n":"5:x"}');
    expect(await b.apply(redis)).toEqual([]);
    expect(await redis.hgetall('h:odd')).toEqual(Object.fromEntries(odd.map((v, i) => [`f${i}:${v}`, v])));
    expect(await redis.lrange('l:odd', 0, -1)).toEqual(['{"a":"b:c","n":"5:x"}']);
  });

  it('hsetIfExists writes only into an existing hash', async () => {
    await redis.flushdb();
    await redis.hset('acc:1', 'id', '1');
    const b = new WriteBatch();
    b.hsetIfExists('acc:1', 'lastUsedAt', 't');
    b.hsetIfExists('acc:2', 'lastUsedAt', 't');
    expect(await b.apply(redis)).toEqual([]);
    expect(await redis.hgetall('acc:1')).toEqual({ id: '1', lastUsedAt: 't' });
    expect(await redis.exists('acc:2')).toBe(0);
  });

  it('declares every key it writes (numkeys), so key-routing tools such as the shadow sandbox see them', async () => {
    const b = new WriteBatch();
    b.hincrby('usage:k', 'totalRequests', 1);
    b.incrbyfloat('usage:cost:total:k', 0.5);
    const found = (await redis.call('COMMAND', 'GETKEYS', 'EVALSHA', '0'.repeat(40), String(b.keys.length), ...b.keys, 'HINCRBY', '1', '2', 'totalRequests', '1')) as string[];
    expect(found).toEqual(['usage:k', 'usage:cost:total:k']);
    expect(await new WriteBatch().apply(redis)).toEqual([]);
  });
});
