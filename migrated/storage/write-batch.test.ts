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

  it('consecutive HINCRBYs on one hash give what HINCRBY one by one gives: new fields in order, repeated fields summed, TTL kept', async () => {
    await redis.flushdb();
    await redis.hset('u', 'b', '5', 'big', '999999999999990');
    await redis.expire('u', 500);
    const b = new WriteBatch();
    b.hincrby('u', 'a', 1);
    b.hincrby('u', 'b', -7);
    b.hincrby('u', 'a', 2);
    b.hincrby('u', 'z', 0);
    b.hincrby('u', 'big', 9);
    b.hincrby('v', 'a', 3); // another key: a run of its own
    b.hincrby('u', 'a', 10); // back on u after v: a new run
    expect(b.length).toBe(7);
    expect(await b.apply(redis)).toEqual([]);
    expect(await redis.hgetall('u')).toEqual({ b: '-2', big: '999999999999999', a: '13', z: '0' });
    expect(Object.keys(await redis.hgetall('u'))).toEqual(['b', 'big', 'a', 'z']);
    expect(await redis.ttl('u')).toBe(500);
    expect(await redis.hgetall('v')).toEqual({ a: '3' });
  });

  it('a run that cannot be summed exactly in the script falls back to HINCRBY one by one, with its errors', async () => {
    await redis.flushdb();
    // 16+ digits (beyond exact doubles), a non-integer value, int64 overflow, a non-integer increment, a sum past 15 digits
    await redis.hset('long', 'x', '9007199254740993');
    await redis.hset('text', 'x', 'abc', 'y', '1');
    await redis.hset('max', 'x', '9223372036854775807');
    await redis.hset('edge', 'x', '999999999999999');
    const b = new WriteBatch();
    b.hincrby('long', 'x', 1);
    b.hincrby('text', 'y', 1);
    b.hincrby('text', 'x', 1);
    b.hincrby('text', 'new', 4);
    b.hincrby('max', 'x', 1);
    b.hincrby('plain', 'x', 1.5);
    b.hincrby('plain', 'y', 2);
    b.hincrby('edge', 'x', 1);
    const failed = await b.apply(redis);
    expect(failed).toEqual([
      'HINCRBY text: ERR hash value is not an integer',
      'HINCRBY max: ERR increment or decrement would overflow',
      'HINCRBY plain: ERR value is not an integer or out of range',
    ]);
    expect(await redis.hget('long', 'x')).toBe('9007199254740994');
    expect(await redis.hgetall('text')).toEqual({ x: 'abc', y: '2', new: '4' });
    expect(await redis.hget('max', 'x')).toBe('9223372036854775807');
    expect(await redis.hgetall('plain')).toEqual({ y: '2' });
    expect(await redis.hget('edge', 'x')).toBe('1000000000000000');
  });

  it('a string with a lone surrogate arrives as the UTF-8 encoder writes it (U+FFFD), like a plain argument', async () => {
    await redis.flushdb();
    const b = new WriteBatch();
    b.hset('h:s', 'f', 'a\ud800b', 'g', '\udc00', 'pair', '😀');
    b.lpush('l:s', 'x\\ud800'); // a backslash followed by text: not a surrogate
    expect(await b.apply(redis)).toEqual([]);
    await redis.hset('h:direct', 'f', 'a\ud800b', 'g', '\udc00', 'pair', '😀');
    expect(await redis.hgetallBuffer('h:s')).toEqual(await redis.hgetallBuffer('h:direct'));
    expect(await redis.lrange('l:s', 0, -1)).toEqual(['x\\ud800']);
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
