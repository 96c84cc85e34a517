import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { HincrbyPairs, WriteBatch, jsonString } from './write-batch.js';

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every key of the test Redis: type, TTL (as `ttlOf` gives it) and value, by name. */
async function keyspace(ttlOf: (ttl: number) => number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const k of (await redis.keys('*')).sort()) {
    const type = await redis.type(k);
    const ttl = await redis.ttl(k);
    const value = type === 'hash' ? Object.entries(await redis.hgetall(k)) : type === 'list' ? await redis.lrange(k, 0, -1) : await redis.get(k);
    out[k] = { type, ttl: ttlOf(ttl), value };
  }
  return out;
}

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

  it('the batches of several requests in one call leave what they leave one after another (runs joined per hash, one touch, one EXPIRE)', async () => {
    /** What one usage-like request queues: counters on shared hashes, floats, a record list, a key touch, an account touch. */
    const request = (b: WriteBatch, i: number, key: string) => {
      const pairs = new HincrbyPairs(['inputTokens', 'outputTokens', 'allTokens', 'requests'], [10 + i, 3 * i, 13 + 4 * i, 1]);
      for (const h of ['usage:k', `usage:daily:k:2026-11-2${i % 2}`, 'usage:model:daily:m', 'acct:usage']) {
        b.hincrbyAll(h, pairs);
        if (h === 'acct:usage') b.hincrbyfloat(h, 'cost', 0.1 * (i + 1));
        if (i % 3 === 2) b.hincrby(h, 'odd', 1); // a run of its own right after: joined too
      }
      for (const h of ['usage:k', `usage:daily:k:2026-11-2${i % 2}`, 'usage:model:daily:m', 'acct:usage']) b.expire(h, 1000 + (h === 'usage:k' ? i : 0));
      b.hincrby('text', 'n', 1); // a non-integer value: falls back to HINCRBY with its error
      b.incrbyfloat('cost:daily', 0.00017999999999999998);
      b.expire('cost:daily', 2592000);
      b.lpush('records', `{"i":${i}}`);
      b.ltrim('records', 0, 2);
      b.expire('records', 7776000);
      b.hsetIfExists('acct', 'lastUsedAt', `2026-11-27T00:00:0${i}.000Z`);
      b.touchApiKey({ key, legacyKey: 'api_key:1', hashMap: 'apikey:hash_map' }, '1', `2026-11-27T00:00:0${i}.000Z`, 31536000, i === 1);
    };
    const seed = async () => {
      await redis.flushdb();
      await redis.hset('text', 'n', 'abc');
      await redis.hset('acct', 'name', 'a');
      await redis.hset('apikey:1', 'apiKey', 'hashed', 'name', 'k');
      await redis.hset('usage:k', 'requests', '7');
    };
    const state = () => keyspace((ttl) => (ttl > 0 ? Math.round(ttl / 10) : ttl));
    await seed();
    const oneByOne: string[] = [];
    let lastTouch: unknown;
    for (let i = 0; i < 4; i++) {
      const b = new WriteBatch();
      request(b, i, 'apikey:1');
      const o = await b.applyDetailed(redis);
      oneByOne.push(...o.failed);
      lastTouch = o.keyTouch;
    }
    const sequential = await state();
    await seed();
    const together = new WriteBatch();
    for (let i = 0; i < 4; i++) request(together, i, 'apikey:1');
    const joined = await together.applyDetailed(redis);
    expect(await state()).toEqual(sequential);
    // the same failures (one per fallback HINCRBY), the touch's outcome with the hash asked for by one of them
    expect(joined.failed.sort()).toEqual(oneByOne.sort());
    expect(joined.keyTouch).toEqual({ state: 'touched', hash: { apiKey: 'hashed', name: 'k', lastUsedAt: '2026-11-27T00:00:03.000Z' } });
    expect(lastTouch).toEqual({ state: 'touched' });
    // joined: one KEYTOUCH and one HSETIFEXISTS for the four requests
    expect(together.packed().match(/"KEYTOUCH"/g)).toHaveLength(1);
    expect(together.packed().match(/"HSETIFEXISTS"/g)).toHaveLength(1);
  });

  it('random requests joined in one batch leave what they leave applied one by one (300 batches of 2-5 requests)', async () => {
    const r = rng(20261127);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const HASHES = ['h:a', 'h:b', 'h:c'];
    const FIELDS = ['in', 'out', 'cost', 'n', 'x\ud800y'];
    /** A request: a random mix of what usage recording queues, on a few shared hashes and fields. */
    const request = (b: WriteBatch, plan: Array<() => void>) => plan.forEach((step) => step.call(b));
    const makePlan = (b: () => WriteBatch): Array<() => void> => {
      const steps: Array<() => void> = [];
      const n = 3 + Math.floor(r() * 10);
      for (let i = 0; i < n; i++) {
        const h = pick(HASHES);
        const f = pick(FIELDS);
        const x = r();
        const by = x < 0.05 ? -Math.floor(r() * 50) : Math.floor(r() * 1000);
        if (x < 0.35) {
          const fields = [pick(FIELDS), pick(FIELDS), pick(FIELDS)];
          const values = fields.map(() => Math.floor(r() * 500));
          steps.push(() => void b().hincrbyAll(h, new HincrbyPairs(fields, values)));
        } else if (x < 0.55) steps.push(() => void b().hincrby(h, f, by));
        else if (x < 0.65) {
          const fl = r() < 0.5 ? 0.25 : 0.1 + r();
          steps.push(() => void b().hincrbyfloat(h, f, fl));
        } else if (x < 0.75) {
          const ttl = pick([100, 1000]);
          steps.push(() => void b().expire(h, ttl));
        } else if (x < 0.8) steps.push(() => void b().hset(h, f, String(by)));
        else if (x < 0.85) steps.push(() => void b().hsetIfExists(h, f, `v${by}`));
        else if (x < 0.9) steps.push(() => void b().incrbyfloat('cost:k', 0.00017999999999999998));
        else steps.push(() => void b().lpush('records', `{"by":${by}}`), () => void b().ltrim('records', 0, 4));
      }
      return steps;
    };
    const seed = async (variant: number) => {
      await redis.flushdb();
      if (variant % 3 === 1) await redis.hset('h:a', 'n', 'abc'); // a value the script cannot add to
      if (variant % 3 === 2) await redis.hset('h:b', 'in', '999999999999990'); // near the script's exact range
      await redis.hset('h:c', 'out', '5');
    };
    const state = () => keyspace((ttl) => ttl);
    let joinedSomething = 0;
    for (let round = 0; round < 300; round++) {
      let current = new WriteBatch();
      const requests = Array.from({ length: 2 + Math.floor(r() * 4) }, () => makePlan(() => current));
      await seed(round);
      const failedOneByOne: string[] = [];
      for (const plan of requests) {
        current = new WriteBatch();
        request(current, plan);
        failedOneByOne.push(...(await current.apply(redis)));
      }
      const sequential = await state();
      await seed(round);
      current = new WriteBatch();
      for (const plan of requests) request(current, plan);
      const failedTogether = await current.apply(redis);
      expect(await state(), `round ${round}`).toEqual(sequential);
      expect(failedTogether.sort(), `round ${round}`).toEqual(failedOneByOne.sort());
      // a hash with two or more runs in the joined batch: the script's joining was exercised
      const runKeys = [...current.packed().matchAll(/"HINCRBYS","(\d+)"/g)].map((m) => m[1]);
      if (new Set(runKeys).size < runKeys.length) joinedSomething++;
    }
    expect(joinedSomething).toBeGreaterThan(100); // the rounds did exercise joining
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

/**
 * The packed argument as the batch used to make it: an array of strings (String() of every
 * argument, HINCRBY runs with their count rewritten) handed to JSON.stringify, lone surrogates
 * replaced by U+FFFD when the JSON has a \\udXXX escape. The batch now writes the JSON text
 * directly; it must be byte for byte this.
 */
class ReferenceBatch {
  items: string[] = [];
  keyList: string[] = [];
  private keyIndex = new Map<string, number>();
  private runKey = 0;
  private runCountAt = -1;
  /** Per key index, the number of the last command on it (a KEYTOUCH / single-field HSETIFEXISTS is replaced only when none came between). */
  private lastOp = new Map<number, number>();
  private seq = 0;
  private touches = new Map<string, { at: number; sig: string; marks: Array<[number, number]> }>();
  private ifExists = new Map<string, { at: number; idx: number; seq: number }>();
  private mark(idx: number): number {
    this.lastOp.set(idx, ++this.seq);
    return this.seq;
  }
  private indexOf(key: string): number {
    let idx = this.keyIndex.get(key);
    if (idx === undefined) {
      this.keyList.push(key);
      idx = this.keyList.length;
      this.keyIndex.set(key, idx);
    }
    return idx;
  }
  push(cmd: string, key: string, ...a: Array<string | number>): void {
    const idx = this.indexOf(key);
    this.mark(idx);
    this.runCountAt = -1;
    this.items.push(cmd, String(idx), String(a.length));
    for (const v of a) this.items.push(String(v));
  }
  hincrby(key: string, field: string, by: number): void {
    if (!(Number.isInteger(by) && Math.abs(by) <= 999_999_999_999_999)) return this.push('HINCRBY', key, field, by);
    const idx = this.indexOf(key);
    this.mark(idx);
    if (this.runCountAt >= 0 && this.runKey === idx) {
      this.items.push(field, String(by));
      this.items[this.runCountAt] = String(Number(this.items[this.runCountAt]) + 2);
    } else {
      this.items.push('HINCRBYS', String(idx), '2', field, String(by));
      this.runKey = idx;
      this.runCountAt = this.items.length - 3;
    }
  }
  touchApiKey(k: { key: string; legacyKey: string; hashMap: string }, keyId: string, iso: string, ttl: number, want: boolean): void {
    const sig = [k.legacyKey, k.hashMap, keyId, ttl].join('\n');
    const earlier = this.touches.get(k.key);
    if (earlier && earlier.sig === sig && earlier.marks.every(([i, q]) => this.lastOp.get(i) === q)) {
      this.items[earlier.at + 3] = iso;
      if (want) this.items[earlier.at + 5] = '1';
      return;
    }
    const main = this.indexOf(k.key);
    const extra = [this.indexOf(k.legacyKey), this.indexOf(k.hashMap), keyId, iso, ttl, want ? 1 : 0];
    const q = this.mark(main);
    this.lastOp.set(extra[0] as number, q);
    this.lastOp.set(extra[1] as number, q);
    this.runCountAt = -1;
    this.items.push('KEYTOUCH', String(main), String(extra.length));
    this.touches.set(k.key, { at: this.items.length, sig, marks: [[main, q], [extra[0] as number, q], [extra[1] as number, q]] });
    for (const v of extra) this.items.push(String(v));
  }
  hsetIfExists(key: string, ...fv: string[]): void {
    if (fv.length !== 2) return this.push('HSETIFEXISTS', key, ...fv);
    const id = `${key}\n${fv[0]}`;
    const earlier = this.ifExists.get(id);
    if (earlier && this.lastOp.get(earlier.idx) === earlier.seq) {
      this.items[earlier.at] = fv[1]!;
      return;
    }
    this.push('HSETIFEXISTS', key, ...fv);
    const idx = this.indexOf(key);
    this.ifExists.set(id, { at: this.items.length - 1, idx, seq: this.lastOp.get(idx)! });
  }
  pack(): string {
    const lone = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
    const json = JSON.stringify(this.items);
    return /\\ud[89a-f]/i.test(json) ? JSON.stringify(this.items.map((x) => x.replace(lone, '\ufffd'))) : json;
  }
}

describe('WriteBatch packed argument', () => {
  const STRINGS = ['', 'a', 'inputTokens', 'model:claude-sonnet-4-5-20250929:inputTokens', 'q"uote', 'back\\slash', 'x\\ud800', 'tab\tnl\n', '\u0000\u001f\u007f', 'héllo', '漢字', '😀', 'a\ud800b', '\udc00', '\ud83d', 'pair\ud83d\ude00end', '\u2028\u2029', '<script>', 'ünïcödé:key'];
  const NUMBERS = [0, -0, 1, 2, 22, 511, 512, 4096, -1, -7, 2764800, 31536000, 999_999_999_999_999, 1_000_000_000_000_000, -999_999_999_999_999, 2 ** 53 + 2, 1e21, 0.1, 0.1 + 0.2, 0.00028619999999999996, -1.5, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];

  it('is byte for byte JSON.stringify of the argument list (any commands, strings, numbers, runs)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const keys = Array.from({ length: 1 + Math.floor(r() * 70) }, (_, i) => (r() < 0.2 ? pick(STRINGS) + i : `k:${i}`));
      // fixed edge values, random integers (some 127 apart: the same slot of the number-text cache), random doubles
      const num = () => {
        const y = r();
        if (y < 0.4) return pick(NUMBERS);
        if (y < 0.6) return 5 + 127 * Math.floor(r() * 40);
        if (y < 0.8) return r() * 0.01;
        return Math.floor(r() * 1e6) - 1000;
      };
      const b = new WriteBatch();
      const ref = new ReferenceBatch();
      const ops = Math.floor(r() * 200);
      for (let o = 0; o < ops; o++) {
        // runs need the same key several times in a row
        const key = r() < 0.5 && ref.keyList.length ? ref.keyList[ref.keyList.length - 1]! : pick(keys);
        const x = r();
        if (x < 0.35) {
          const f = pick(STRINGS);
          const n = num();
          b.hincrby(key, f, n);
          ref.hincrby(key, f, n);
        } else if (x < 0.5) {
          const fields = Array.from({ length: Math.floor(r() * 7) }, () => pick(STRINGS));
          const values = fields.map(() => (r() < 0.9 ? Math.floor(r() * 5000) : num()));
          b.hincrbyAll(key, new HincrbyPairs(fields, values));
          fields.forEach((f, i) => ref.hincrby(key, f, values[i]!));
        } else if (x < 0.6) {
          const n = num();
          b.expire(key, n);
          ref.push('EXPIRE', key, n);
        } else if (x < 0.65) {
          const n = num();
          b.incrbyfloat(key, n);
          ref.push('INCRBYFLOAT', key, n);
        } else if (x < 0.7) {
          const n = num();
          b.incrby(key, n);
          ref.push('INCRBY', key, n);
        } else if (x < 0.75) {
          const f = pick(STRINGS);
          const n = num();
          b.hincrbyfloat(key, f, n);
          ref.push('HINCRBYFLOAT', key, f, n);
        } else if (x < 0.82) {
          const fv = Array.from({ length: 2 * Math.floor(r() * 4) }, () => pick(STRINGS));
          if (r() < 0.5) {
            b.hset(key, ...fv);
            ref.push('HSET', key, ...fv);
          } else {
            b.hsetIfExists(key, ...fv);
            ref.hsetIfExists(key, ...fv);
          }
        } else if (x < 0.88) {
          const v = pick(STRINGS) + JSON.stringify({ m: pick(STRINGS), n: num() });
          b.lpush(key, v);
          ref.push('LPUSH', key, v);
          b.ltrim(key, 0, 199);
          ref.push('LTRIM', key, 0, 199);
        } else if (x < 0.93) {
          const v = JSON.stringify({ e: pick(STRINGS) });
          b.xadd(key, 'MAXLEN', '~', '100000', '*', 'data', v);
          ref.push('XADD', key, 'MAXLEN', '~', '100000', '*', 'data', v);
        } else {
          const k3 = { key, legacyKey: pick(keys), hashMap: 'apikey:hash_map' };
          const id = pick(STRINGS);
          const want = r() < 0.5;
          b.touchApiKey(k3, id, '2026-11-26T11:52:03.699Z', 31_536_000, want);
          ref.touchApiKey(k3, id, '2026-11-26T11:52:03.699Z', 31_536_000, want);
        }
      }
      expect(b.packed(), `seed ${seed}`).toBe(ref.pack());
      expect(b.keys, `seed ${seed}`).toEqual(ref.keyList);
      expect(b.packed(), `seed ${seed} (packed twice)`).toBe(ref.pack());
    }
  });

  it('jsonString is JSON.stringify after the lone-surrogate rule', () => {
    const all = ['', ...Array.from({ length: 0x3000 }, (_, i) => String.fromCharCode(i)), '\ud800', '\udfff', '\ud83d\ude00', 'a\ud83d', '\ude00b'];
    for (const s of all) expect(jsonString(s)).toBe(JSON.stringify(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')));
  });
});
