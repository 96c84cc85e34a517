import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { legacyTracesDir } from './paths.js';
import { startPrivateRedis, type PrivateRedis } from './redis-server.js';
import { diffRedisSnapshots, dumpRedisSnapshot, loadRedisSnapshot, type RedisSnapshot } from './redis-snapshot.js';

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());

const traces = readdirSync(legacyTracesDir).filter((d) => existsSync(join(legacyTracesDir, d, 'redis.after.json')));

describe('redis snapshots', () => {
  it('round-trips every recorded after-state (all types, TTLs within 2 s)', async () => {
    expect(traces.length).toBeGreaterThan(40);
    for (const t of traces) {
      const snap = JSON.parse(readFileSync(join(legacyTracesDir, t, 'redis.after.json'), 'utf8')) as RedisSnapshot;
      await loadRedisSnapshot(redis, snap);
      const back = await dumpRedisSnapshot(redis);
      expect(diffRedisSnapshots(snap, back, { ttlTolerance: 2 }), t).toEqual([]);
      // canonical form: same keys in the same (sorted) order, same JSON for non-TTL parts
      expect(Object.keys(back)).toEqual(Object.keys(snap));
      for (const k of Object.keys(snap)) {
        const { ttl: _a, ...e } = snap[k]!;
        const { ttl: _b, ...a } = back[k]!;
        expect(JSON.stringify(a), `${t} ${k}`).toBe(JSON.stringify(e));
      }
    }
  });

  it('keeps the given hash field order on load and reports field-level diffs', async () => {
    await loadRedisSnapshot(
      redis,
      { h: { type: 'hash', ttl: -1, value: { a: '1', b: '2', c: '3' } } },
      { hashFieldOrder: { h: ['c', 'a', 'b'] } },
    );
    expect(Object.keys(await redis.hgetall('h'))).toEqual(['c', 'a', 'b']);
    const snap = await dumpRedisSnapshot(redis);
    const changed: RedisSnapshot = { h: { type: 'hash', ttl: 5, value: { a: '1', b: '9', c: '3' } } };
    expect(diffRedisSnapshots(changed, snap)).toEqual([
      { key: 'h', kind: 'value', fields: ['b'], expected: { b: '9' }, actual: { b: '2' } },
      { key: 'h', kind: 'ttl', expected: 5, actual: -1 },
    ]);
    expect(diffRedisSnapshots(changed, snap, { ignoreHashFields: [{ key: 'h', fields: ['b'] }], compareTtl: false })).toEqual([]);
    expect(diffRedisSnapshots({}, snap).map((d) => d.kind)).toEqual(['added']);
  });
});
