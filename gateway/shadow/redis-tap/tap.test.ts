import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { CommandTable } from '../resp/command-table.js';
import { PrimaryRedisTap } from './tap.js';

describe('primary redis tap', () => {
  let prod: PrivateRedis;
  let tap: PrimaryRedisTap;
  let primary: Redis;
  let direct: Redis;
  let primary3: Redis;

  beforeAll(async () => {
    prod = await startPrivateRedis();
    direct = prod.client();
    tap = await new PrimaryRedisTap({ productionHost: prod.host, productionPort: prod.port, table: await CommandTable.load(direct) }).start();
    primary = new Redis({ host: '127.0.0.1', port: tap.port, protocol: 2 });
    primary3 = new Redis({ host: '127.0.0.1', port: tap.port });
  });
  afterAll(async () => {
    primary.disconnect();
    primary3.disconnect();
    await tap.close();
    await prod.stop();
  });

  it('captures each written key as it was when the window opened, invisibly to the client', async () => {
    await direct.set('c', '10');
    await direct.hset('h', 'a', '1');
    const w = tap.openWindow();
    expect(await primary.incr('c')).toBe(11);
    expect(await primary.incr('c')).toBe(12);
    expect(await primary.get('c')).toBe('12');
    const tx = await primary.multi().hset('h', 'b', '2').expire('h', 100).set('new', 'v').exec();
    expect(tx).toEqual([[null, 1], [null, 1], [null, 'OK']]);
    const pipe = await primary.pipeline().incrbyfloat('f', '1.5').del('c').exec();
    expect(pipe).toEqual([[null, '1.5'], [null, 1]]);
    const result = await w.close();
    expect(result.writes.map((x) => x.command)).toEqual(['incr c', 'incr c', 'hset h b 2', 'expire h 100', 'set new v', 'incrbyfloat f 1.5', 'del c']);
    expect([...result.preImages.keys()].sort()).toEqual(['c', 'f', 'h', 'new']);
    const scratch = prod.client();
    await scratch.select(5);
    await scratch.restore('c', 0, result.preImages.get('c')!.payload!);
    expect(await scratch.get('c')).toBe('10');
    await scratch.restore('h', 0, result.preImages.get('h')!.payload!);
    expect(await scratch.hgetall('h')).toEqual({ a: '1' });
    expect(result.preImages.get('new')).toEqual({ payload: null, pttl: -2 });
    expect(result.preImages.get('h')!.pttl).toBe(-1);
  });

  it('is a plain proxy outside windows and with RESP3 clients', async () => {
    expect(tap.openWindows).toBe(0);
    const before = tap.injected;
    await primary3.hset('r3', 'x', '1');
    expect(await primary3.hgetall('r3')).toEqual({ x: '1' });
    const w = tap.openWindow();
    await primary3.hset('r3', 'y', '2');
    expect(await primary3.hgetall('r3')).toEqual({ x: '1', y: '2' });
    const r = await w.close();
    expect(tap.injected - before).toBe(2);
    expect(r.preImages.get('r3')?.payload).not.toBeNull();
  });

  it('handles a script and a large pipeline of mixed commands in order', async () => {
    const w = tap.openWindow();
    const p = primary.pipeline();
    for (let i = 0; i < 500; i++) p.set(`k${i % 50}`, String(i)).get(`k${i % 50}`);
    const out = await p.exec();
    expect(out?.[999]).toEqual([null, '499']);
    expect(await primary.eval("return redis.call('INCR', KEYS[1])", 1, 'lua')).toBe(1);
    const r = await w.close();
    expect(r.preImages.size).toBe(51);
    expect(r.writes).toHaveLength(501);
  });
});
