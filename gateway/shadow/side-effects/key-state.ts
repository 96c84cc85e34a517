import type { Redis } from 'ioredis';
import { dumpRedisSnapshot, type RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import type { PreImage } from '../sandbox/pre-image.js';

/**
 * Key states as exact DUMP payloads, turned into the canonical snapshot form (the traces'
 * `redis.*.json`, engineer B's reader) for diffs and for saving as a compat exchange.
 */

export type KeyStates = Map<string, PreImage>;

/** DUMP + PTTL of `keys` from `redis`, in one round trip. */
export async function readKeyStates(redis: Redis, keys: Iterable<string>): Promise<KeyStates> {
  const list = [...new Set(keys)];
  const out: KeyStates = new Map();
  if (list.length === 0) return out;
  const p = redis.pipeline();
  for (const k of list) {
    const kb = Buffer.from(k, 'latin1');
    p.dumpBuffer(kb).pttl(kb);
  }
  const res = (await p.exec()) ?? [];
  list.forEach((k, i) => {
    const payload = (res[i * 2]?.[1] as Buffer | null) ?? null;
    const pttl = Number(res[i * 2 + 1]?.[1] ?? -2);
    out.set(k, { payload, pttl: payload ? pttl : -2 });
  });
  return out;
}

/**
 * Canonical snapshot of key states, by restoring them into `scratch` (a database nobody else
 * uses: it is flushed). `ttlShiftMs` is added to every TTL so that two sides read at different
 * moments can be compared relative to their own request start.
 */
export async function canonicalSnapshot(scratch: Redis, states: KeyStates, ttlShiftMs = 0): Promise<RedisSnapshot> {
  await scratch.flushdb();
  const p = scratch.pipeline();
  let n = 0;
  for (const [key, s] of states) {
    if (!s.payload) continue;
    const ttl = s.pttl > 0 ? s.pttl + Math.max(0, ttlShiftMs) : 0;
    p.callBuffer('RESTORE', Buffer.from(key, 'latin1'), String(ttl), s.payload, 'REPLACE');
    n++;
  }
  if (n > 0) {
    const res = (await p.exec()) ?? [];
    const failed = res.find(([err]) => err);
    if (failed) throw failed[0];
  }
  const snap = await dumpRedisSnapshot(scratch);
  await scratch.flushdb();
  return snap;
}

/**
 * Hash field order as Redis returns it (the canonical snapshot sorts fields; clients see this
 * order). Only small hashes (listpack encoding) keep insertion order; a hashtable's order depends
 * on its internal table history (and changes across DUMP/RESTORE), so those are left out.
 */
export async function hashFieldOrders(scratch: Redis, states: KeyStates): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  await scratch.flushdb();
  for (const [key, s] of states) {
    if (!s.payload) continue;
    const kb = Buffer.from(key, 'latin1');
    await scratch.callBuffer('RESTORE', kb, '0', s.payload, 'REPLACE');
    if ((await scratch.type(kb)) !== 'hash') continue;
    const encoding = String(await scratch.call('OBJECT', 'ENCODING', kb));
    if (encoding === 'listpack' || encoding === 'ziplist') out.set(key, await scratch.hkeys(kb));
  }
  await scratch.flushdb();
  return out;
}
