import type { Redis } from 'ioredis';

/**
 * Redis keyspace snapshots in the canonical form of the legacy traces' `redis.*.json`
 * (../shared/legacy-traces/README.md): `{ [key]: { type, ttl, value, json? } }`, keys sorted;
 * hashes as objects sorted by field, zsets as `[member, score]` in ZRANGE order, lists in order,
 * sets sorted, streams as XRANGE entries `[id, [field, value, ...]]`, strings raw plus `json`
 * when the value parses to a JSON object or array. `ttl` in seconds, -1 for none.
 */

export type SnapshotEntry =
  | { type: 'string'; ttl: number; value: string; json?: unknown }
  | { type: 'hash'; ttl: number; value: Record<string, string> | Array<[string, string]> }
  | { type: 'list'; ttl: number; value: string[] }
  | { type: 'set'; ttl: number; value: string[] }
  | { type: 'zset'; ttl: number; value: Array<[string, number | string]> }
  | { type: 'stream'; ttl: number; value: Array<[string, string[]]> };

export type RedisSnapshot = Record<string, SnapshotEntry>;

export interface LoadOptions {
  /** FLUSHDB first (default true). */
  flush?: boolean;
  /**
   * Field order for hashes, by key: Redis keeps a small hash's insertion order and the legacy
   * builds JSON from HGETALL, so a test that cares gives the legacy's order here. Fields not
   * listed follow in snapshot order.
   */
  hashFieldOrder?: Record<string, string[]>;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function hashPairs(value: Record<string, string> | Array<[string, string]>): Array<[string, string]> {
  return Array.isArray(value) ? value : Object.entries(value);
}

/** Write every key of `snapshot` into `redis` (all types, TTLs), in one pipeline. */
export async function loadRedisSnapshot(redis: Redis, snapshot: RedisSnapshot, opts: LoadOptions = {}): Promise<void> {
  if (opts.flush ?? true) await redis.flushdb();
  const p = redis.pipeline();
  for (const [key, entry] of Object.entries(snapshot)) {
    p.del(key);
    switch (entry.type) {
      case 'string':
        p.set(key, entry.value);
        break;
      case 'hash': {
        let pairs = hashPairs(entry.value);
        const order = opts.hashFieldOrder?.[key];
        if (order) {
          const rank = new Map(order.map((f, i) => [f, i]));
          pairs = [...pairs].sort((a, b) => (rank.get(a[0]) ?? 1e9) - (rank.get(b[0]) ?? 1e9));
        }
        if (pairs.length) p.hset(key, ...pairs.flat());
        break;
      }
      case 'list':
        if (entry.value.length) p.rpush(key, ...entry.value);
        break;
      case 'set':
        if (entry.value.length) p.sadd(key, ...entry.value);
        break;
      case 'zset':
        if (entry.value.length) p.zadd(key, ...entry.value.flatMap(([m, s]) => [String(s), m]));
        break;
      case 'stream':
        for (const [id, fields] of entry.value) p.xadd(key, id, ...fields);
        break;
      default:
        throw new Error(`snapshot key ${key}: unknown type ${(entry as { type: string }).type}`);
    }
    if (entry.ttl > 0) p.expire(key, entry.ttl);
  }
  const results = (await p.exec()) ?? [];
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
}

function parseJsonValue(s: string): unknown {
  const c = s.trimStart()[0];
  if (c !== '{' && c !== '[') return undefined;
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Read the whole keyspace (SCAN) into the canonical snapshot form. */
export async function dumpRedisSnapshot(redis: Redis, match = '*'): Promise<RedisSnapshot> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await redis.call('SCAN', cursor, 'MATCH', match, 'COUNT', '1000')) as [string, string[]];
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  const unique = [...new Set(names)].sort(byCodeUnit);
  if (!unique.length) return {};
  const tp = redis.pipeline();
  for (const k of unique) tp.type(k).ttl(k);
  const typeRes = (await tp.exec()) ?? [];
  const vp = redis.pipeline();
  const types: string[] = [];
  const ttls: number[] = [];
  unique.forEach((k, i) => {
    const type = String(typeRes[i * 2]?.[1]);
    types.push(type);
    ttls.push(Number(typeRes[i * 2 + 1]?.[1]));
    if (type === 'string') vp.get(k);
    else if (type === 'hash') vp.hgetall(k);
    else if (type === 'list') vp.lrange(k, 0, -1);
    else if (type === 'set') vp.smembers(k);
    else if (type === 'zset') vp.zrange(k, '0', '-1', 'WITHSCORES');
    else if (type === 'stream') vp.xrange(k, '-', '+');
    else vp.exists(k);
  });
  const valueRes = (await vp.exec()) ?? [];
  const out: RedisSnapshot = {};
  unique.forEach((k, i) => {
    const type = types[i]!;
    const ttl = ttls[i]!;
    const raw = valueRes[i]?.[1];
    if (type === 'none') return; // expired between SCAN and TYPE
    if (type === 'string') {
      const value = String(raw);
      const json = parseJsonValue(value);
      out[k] = json === undefined ? { type, ttl, value } : { type, ttl, value, json };
    } else if (type === 'hash') {
      const h = raw as Record<string, string>;
      const sorted: Record<string, string> = {};
      for (const f of Object.keys(h).sort(byCodeUnit)) sorted[f] = h[f]!;
      out[k] = { type, ttl, value: sorted };
    } else if (type === 'list') {
      out[k] = { type, ttl, value: raw as string[] };
    } else if (type === 'set') {
      out[k] = { type, ttl, value: [...(raw as string[])].sort(byCodeUnit) };
    } else if (type === 'zset') {
      const flat = raw as string[];
      const pairs: Array<[string, number]> = [];
      for (let j = 0; j < flat.length; j += 2) pairs.push([flat[j]!, Number(flat[j + 1])]);
      out[k] = { type, ttl, value: pairs };
    } else if (type === 'stream') {
      out[k] = { type, ttl, value: raw as Array<[string, string[]]> };
    } else {
      throw new Error(`dumpRedisSnapshot: key ${k} has unsupported type ${type}`);
    }
  });
  return out;
}

export interface KeyDiff {
  key: string;
  kind: 'added' | 'removed' | 'type' | 'value' | 'ttl';
  /** For hashes: the fields that differ. */
  fields?: string[];
  expected?: unknown;
  actual?: unknown;
}

export interface DiffOptions {
  /** Keys (exact) or predicates to skip entirely (name each noise key in the test). */
  ignoreKeys?: Array<string | RegExp | ((key: string) => boolean)>;
  /** Hash fields to skip: key pattern -> field names (noise such as lastUsedAt). */
  ignoreHashFields?: Array<{ key: string | RegExp; fields: string[] }>;
  /** Allowed |expected.ttl - actual.ttl| in seconds for keys with a TTL (default 0). -1 vs >0 always differs. */
  ttlTolerance?: number;
  /** Compare TTLs at all (default true). */
  compareTtl?: boolean;
}

function matches(key: string, m: string | RegExp | ((key: string) => boolean)): boolean {
  if (typeof m === 'string') return key === m;
  if (m instanceof RegExp) return m.test(key);
  return m(key);
}

function normalizeValue(e: SnapshotEntry): unknown {
  if (e.type === 'hash') return Object.fromEntries(hashPairs(e.value));
  if (e.type === 'zset') return e.value.map(([m, s]) => [m, Number(s)]);
  return e.value;
}

/** Key-level (and hash-field-level) differences between two snapshots. Empty array: equal. */
export function diffRedisSnapshots(expected: RedisSnapshot, actual: RedisSnapshot, opts: DiffOptions = {}): KeyDiff[] {
  const diffs: KeyDiff[] = [];
  const skip = (k: string) => (opts.ignoreKeys ?? []).some((m) => matches(k, m));
  const ignoredFields = (k: string): Set<string> =>
    new Set((opts.ignoreHashFields ?? []).filter((r) => matches(k, r.key)).flatMap((r) => r.fields));
  const all = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort(byCodeUnit);
  for (const key of all) {
    if (skip(key)) continue;
    const e = expected[key];
    const a = actual[key];
    if (!a) {
      diffs.push({ key, kind: 'removed', expected: e });
      continue;
    }
    if (!e) {
      diffs.push({ key, kind: 'added', actual: a });
      continue;
    }
    if (e.type !== a.type) {
      diffs.push({ key, kind: 'type', expected: e.type, actual: a.type });
      continue;
    }
    if (e.type === 'hash') {
      const ev = normalizeValue(e) as Record<string, string>;
      const av = normalizeValue(a) as Record<string, string>;
      const ignore = ignoredFields(key);
      const fields = [...new Set([...Object.keys(ev), ...Object.keys(av)])]
        .filter((f) => !ignore.has(f) && ev[f] !== av[f])
        .sort(byCodeUnit);
      if (fields.length) {
        diffs.push({
          key,
          kind: 'value',
          fields,
          expected: Object.fromEntries(fields.map((f) => [f, ev[f]])),
          actual: Object.fromEntries(fields.map((f) => [f, av[f]])),
        });
      }
    } else if (JSON.stringify(normalizeValue(e)) !== JSON.stringify(normalizeValue(a))) {
      diffs.push({ key, kind: 'value', expected: e.value, actual: a.value });
    }
    if (opts.compareTtl ?? true) {
      const tol = opts.ttlTolerance ?? 0;
      const bad = e.ttl < 0 || a.ttl < 0 ? e.ttl !== a.ttl : Math.abs(e.ttl - a.ttl) > tol;
      if (bad) diffs.push({ key, kind: 'ttl', expected: e.ttl, actual: a.ttl });
    }
  }
  return diffs;
}
