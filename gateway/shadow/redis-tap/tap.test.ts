import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { connect } from 'node:net';
import { encodeCommand, RespReader } from '../resp/codec.js';
import { CommandTable } from '../resp/command-table.js';
import { PrimaryRedisTap } from './tap.js';

describe('primary redis tap', () => {
  let prod: PrivateRedis;
  let tap: PrimaryRedisTap;
  let primary: Redis;
  let direct: Redis;

  beforeAll(async () => {
    prod = await startPrivateRedis();
    direct = prod.client();
    tap = await new PrimaryRedisTap({ productionHost: prod.host, productionPort: prod.port, table: await CommandTable.load(direct) }).start();
    primary = new Redis({ host: '127.0.0.1', port: tap.port });
  });
  afterAll(async () => {
    primary.disconnect();
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
    // a RESP3 connection (HELLO 3) on a raw socket: ioredis 5, like the legacy's client, speaks RESP2 only
    const resp3 = (cmds: string[][]) => Buffer.concat([encodeCommand(['HELLO', '3']), ...cmds.map((c) => encodeCommand(c))]);
    expect(tap.openWindows).toBe(0);
    const before = tap.injected;
    const outside = await rawExchange(tap.port, resp3([['HSET', 'r3', 'x', '1'], ['HGETALL', 'r3']]), 3);
    expect(outside.toString('latin1')).toContain(':1\r\n%1\r\n$1\r\nx\r\n$1\r\n1\r\n');
    const w = tap.openWindow();
    const inside = await rawExchange(tap.port, resp3([['HSET', 'r3', 'y', '2'], ['HGETALL', 'r3']]), 3);
    expect(inside.toString('latin1')).toContain(':1\r\n%2\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n2\r\n');
    const r = await w.close();
    expect(tap.injected - before).toBe(2);
    expect(r.preImages.get('r3')?.payload).not.toBeNull();
  });

  it("answers byte for byte what Redis answers: DISCARD, EXECABORT, errors inside EXEC, WATCH abort, pub/sub", async () => {
    const script = (p: string) =>
      Buffer.concat(
        [
          ['MULTI'], ['SET', `${p}d1`, 'x'], ['INCR', `${p}d2`], ['DISCARD'],
          ['MULTI'], ['SET', `${p}k`, 'v'], ['INCR'], ['EXEC'],
          ['SET', `${p}str`, 'abc'],
          ['MULTI'], ['INCR', `${p}str`], ['SET', `${p}ok`, '1'], ['HSET', `${p}h`, 'f', 'v'], ['EXEC'],
          ['GET', `${p}d1`], ['EXISTS', `${p}k`], ['HGETALL', `${p}h`],
        ].map((c) => encodeCommand(c)),
      );
    const REPLIES = 17;
    const w = tap.openWindow();
    const viaTap = await rawExchange(tap.port, script('t:'), REPLIES);
    const r = await w.close();
    const viaRedis = await rawExchange(prod.port, script('t:'.replace('t', 'd')), REPLIES);
    expect(viaTap.toString('latin1')).toBe(viaRedis.toString('latin1'));
    expect([...r.preImages.keys()].sort()).toEqual(['t:h', 't:ok', 't:str']);
    // WATCH abort: EXEC answers a null array through the tap too
    const raw = new Redis({ host: '127.0.0.1', port: tap.port });
    await raw.set('w', '1');
    await raw.watch('w');
    await direct.set('w', '2');
    const w2 = tap.openWindow();
    expect(await raw.multi().set('w', '3').incr('w2').exec()).toBeNull();
    await w2.close();
    expect(await direct.get('w')).toBe('2');
    // pub/sub on a tapped connection: a plain pipe from then on
    const sub = new Redis({ host: '127.0.0.1', port: tap.port });
    const got = new Promise<string>((resolve) => sub.on('message', (_c: string, m: string) => resolve(m)));
    await sub.subscribe('ch');
    const w3 = tap.openWindow();
    await direct.publish('ch', 'hello');
    expect(await got).toBe('hello');
    await w3.close();
    sub.disconnect();
    raw.disconnect();
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

/** Send raw RESP bytes on a fresh connection; resolve with the raw bytes of the first `n` replies. */
function rawExchange(port: number, bytes: Buffer, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const reader = new RespReader();
    const out: Buffer[] = [];
    let count = 0;
    sock.on('data', (d: Buffer) => {
      reader.push(d);
      for (let f = reader.next(); f; f = reader.next()) {
        out.push(Buffer.from(f.raw));
        if (++count === n) {
          sock.destroy();
          resolve(Buffer.concat(out));
        }
      }
    });
    sock.on('error', reject);
    sock.write(bytes);
  });
}
