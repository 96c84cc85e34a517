import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { ccrMappedModel, ccrSupportsModel, subscriptionExpired } from './ccr-account.js';
import { CcrMarks } from './ccr-marks.js';
import { CcrLineFramer, usageOfLine } from './ccr-stream-lines.js';

describe('CCR stream line framing', () => {
  it('writes complete lines, blank lines as \\n, drops an unterminated tail; a split multi-byte char stays intact', () => {
    const f = new CcrLineFramer();
    const euro = Buffer.from('€', 'utf8');
    const a = f.push(Buffer.concat([Buffer.from('event: x\ndata: '), euro.subarray(0, 1)]));
    const b = f.push(Buffer.concat([euro.subarray(1), Buffer.from('\n\r\n\ntail-without-newline')]));
    expect(Buffer.concat([a, b]).toString('utf8')).toBe('event: x\ndata: €\n\n\n');
  });

  it('usage from a top-level usage or a message_delta delta.usage; the last one wins', () => {
    const f = new CcrLineFramer();
    f.push(Buffer.from('data: {"type":"message_start","message":{"usage":{"input_tokens":9}}}\n'));
    expect(f.usage).toBeNull();
    f.push(Buffer.from('data: {"type":"message_delta","usage":{"input_tokens":3,"output_tokens":4}}\n'));
    expect(f.usage).toMatchObject({ input_tokens: 3, output_tokens: 4, cache_read_input_tokens: 0 });
    expect(usageOfLine('data: {"type":"message_delta","delta":{"usage":{"output_tokens":7}}}')).toMatchObject({ input_tokens: 0, output_tokens: 7 });
    expect(usageOfLine('data: [DONE]')).toBeNull();
    expect(usageOfLine('data: not json')).toBeNull();
  });
});

describe('CCR model rules', () => {
  it('support: array exact allow-list, mapping keys case-insensitive, empty = all', () => {
    expect(ccrSupportsModel(['a'], 'a')).toBe(true);
    expect(ccrSupportsModel(['a'], 'A')).toBe(false);
    expect(ccrSupportsModel([], 'x')).toBe(true);
    expect(ccrSupportsModel({ Foo: 'bar' }, 'foo')).toBe(true);
    expect(ccrSupportsModel({ Foo: 'bar' }, 'baz')).toBe(false);
    expect(ccrSupportsModel({}, 'baz')).toBe(true);
  });
  it('mapping applied only for objects', () => {
    expect(ccrMappedModel({ Foo: 'bar' }, 'foo')).toBe('bar');
    expect(ccrMappedModel(['foo'], 'foo')).toBe('foo');
    expect(ccrMappedModel({ a: 'b' }, 'c')).toBe('c');
  });
  it('subscription expiry', () => {
    expect(subscriptionExpired('', 5)).toBe(false);
    expect(subscriptionExpired('2026-01-01T00:00:00.000Z', Date.parse('2026-01-01T00:00:00.000Z'))).toBe(true);
    expect(subscriptionExpired('null', 5)).toBe(false);
  });
});

describe('CCR account marks', () => {
  let server: PrivateRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = server.client();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });
  const AT = Date.parse('2026-11-26T12:00:00.000Z');

  it('success clears a live rate-limit (quota-stopped accounts stay stopped) and an overload', async () => {
    const marks = new CcrMarks(redis, frozenClock(AT, 8));
    await redis.hset('ccr_account:r1', { status: 'rate_limited', rateLimitedAt: new Date(AT - 60_000).toISOString(), rateLimitStatus: 'active', rateLimitDuration: '60', errorMessage: 'x' });
    await marks.success('r1');
    expect(await redis.hgetall('ccr_account:r1')).toEqual({ status: 'active', rateLimitDuration: '60', errorMessage: '' });
    await redis.hset('ccr_account:r2', { status: 'rate_limited', rateLimitedAt: new Date(AT - 60_000).toISOString(), quotaStoppedAt: 'then' });
    await marks.success('r2');
    expect(await redis.hgetall('ccr_account:r2')).toMatchObject({ status: 'quota_exceeded', errorMessage: 'Account stopped due to quota exceeded' });
    await redis.hset('ccr_account:r3', { status: 'overloaded', overloadedAt: 'then', errorMessage: 'Account overloaded' });
    await marks.success('r3');
    expect(await redis.hgetall('ccr_account:r3')).toEqual({ status: 'active', errorMessage: '' });
  });

  it('an expired rate-limit is removed by the check itself', async () => {
    const marks = new CcrMarks(redis, frozenClock(AT, 8));
    await redis.hset('ccr_account:r4', { status: 'rate_limited', rateLimitedAt: new Date(AT - 61 * 60_000).toISOString(), rateLimitStatus: 'active' });
    expect(await marks.isRateLimited('r4')).toBe(false);
    expect(await redis.hgetall('ccr_account:r4')).toEqual({ status: 'active', errorMessage: '' });
  });

  it('marks on a missing account write nothing', async () => {
    const marks = new CcrMarks(redis, frozenClock(AT, 8));
    await marks.unauthorized('gone');
    await marks.rateLimited('gone');
    await marks.overloaded('gone');
    expect(await redis.exists('ccr_account:gone')).toBe(0);
  });
});
