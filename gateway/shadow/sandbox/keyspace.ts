import type { Redis } from 'ioredis';

/**
 * Exact and readable views of Redis keys, for proving "untouched" and for side-effect diffs.
 */

export interface ExactKey {
  /** DUMP payload, hex (type, encoding and value bytes). */
  dump: string;
  /** Absolute expiry (PEXPIRETIME, ms since epoch) or -1: stable while time passes. */
  expireAt: number;
}

/** Every key of the selected database as DUMP bytes + absolute expiry. */
export async function dumpKeyspace(redis: Redis): Promise<Record<string, ExactKey>> {
  const out: Record<string, ExactKey> = {};
  let cursor = '0';
  do {
    const [next, keys] = await redis.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    for (const key of keys) {
      const [[, dump], [, expireAt]] = (await redis
        .pipeline()
        .dumpBuffer(key)
        .call('PEXPIRETIME', key)
        .exec()) as [[unknown, Buffer | null], [unknown, number]];
      if (dump) out[key.toString('latin1')] = { dump: dump.toString('hex'), expireAt: Number(expireAt) };
    }
  } while (cursor !== '0');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Readable value of one key, close to the traces' canonical form (but hashes keep Redis order). */
export type KeyValue =
  | { type: 'none' }
  | { type: 'string'; ttlMs: number; value: string }
  | { type: 'hash'; ttlMs: number; value: Array<[string, string]> }
  | { type: 'list'; ttlMs: number; value: string[] }
  | { type: 'set'; ttlMs: number; value: string[] }
  | { type: 'zset'; ttlMs: number; value: Array<[string, string]> }
  | { type: 'stream'; ttlMs: number; value: Array<[string, string[]]> }
  | { type: 'other'; ttlMs: number; value: string };

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

export async function readKey(redis: Redis, key: string): Promise<KeyValue> {
  const k = Buffer.from(key, 'latin1');
  const type = await redis.type(k);
  if (type === 'none') return { type: 'none' };
  const ttlMs = Number(await redis.pttl(k));
  switch (type) {
    case 'string':
      return { type, ttlMs, value: (await redis.get(k)) ?? '' };
    case 'hash':
      return { type, ttlMs, value: pairs((await redis.call('HGETALL', k)) as string[]) };
    case 'list':
      return { type, ttlMs, value: await redis.lrange(k, 0, -1) };
    case 'set':
      return { type, ttlMs, value: (await redis.smembers(k)).sort() };
    case 'zset':
      return { type, ttlMs, value: pairs((await redis.call('ZRANGE', k, '0', '-1', 'WITHSCORES')) as string[]) };
    case 'stream':
      return { type, ttlMs, value: (await redis.xrange(k, '-', '+')) as Array<[string, string[]]> };
    default:
      return { type: 'other', ttlMs, value: ((await redis.dumpBuffer(k)) ?? Buffer.alloc(0)).toString('hex') };
  }
}

/** Restore DUMP payloads into a scratch database of `scratch` and read them back readable. */
export async function readPayload(scratch: Redis, payload: Buffer | null, pttl: number): Promise<KeyValue> {
  if (!payload) return { type: 'none' };
  const tmp = `__shadow_scratch__:${Math.floor(performance.now() * 1000)}`;
  await scratch.callBuffer('RESTORE', tmp, String(pttl > 0 ? pttl : 0), payload, 'REPLACE');
  try {
    return await readKey(scratch, tmp);
  } finally {
    await scratch.del(tmp);
  }
}
