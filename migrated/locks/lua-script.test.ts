import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { LuaScript } from './lua-script.js';

/** Read-only scripts: EVALSHA_RO where Redis has it (writes refused), EVALSHA on a Redis without it. */
const read = () => new LuaScript('readBoth', `return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}`, 2, { readOnly: true });
const sneakyWrite = () => new LuaScript('sneakyWrite', `return redis.call('SET', KEYS[1], 'x')`, 1, { readOnly: true });

let modern: PrivateRedis;
let older: PrivateRedis;
let a: Redis;
let b: Redis;
beforeAll(async () => {
  modern = await startPrivateRedis();
  // a Redis without EVALSHA_RO (as before 7.0): the command renamed away
  older = await startPrivateRedis(['--rename-command', 'EVALSHA_RO', '']);
  a = modern.client();
  b = older.client();
});
afterAll(async () => {
  a?.disconnect();
  b?.disconnect();
  await modern?.stop();
  await older?.stop();
});

describe('LuaScript readOnly', () => {
  it('runs with EVALSHA_RO: reads answer, a write inside is refused by Redis', async () => {
    await a.set('k1', 'one');
    expect(await read().run(a, ['k1', 'k2'], [])).toEqual(['one', null]);
    await expect(sneakyWrite().run(a, ['k3'], [])).rejects.toThrow(/Write commands are not allowed from read-only scripts/);
    expect(await a.exists('k3')).toBe(0);
  });

  it('falls back to EVALSHA for good on a Redis without EVALSHA_RO', async () => {
    await b.set('k1', 'one');
    const s = read();
    expect(await s.run(b, ['k1', 'k2'], [])).toEqual(['one', null]);
    expect(await s.run(b, ['k1', 'k2'], [])).toEqual(['one', null]);
    const stats = await b.info('commandstats');
    expect(stats).toMatch(/cmdstat_evalsha:calls=2,/);
  });
});
