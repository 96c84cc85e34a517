import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startMockUpstream, type MockUpstream, type MockUpstreamOptions, type RecordedUpstream } from '../compat-tests/mock-upstream/server.js';
import type { MigratedModuleFactory } from '../migrated/module.js';
import { serveRelay, type RelayHarness } from '../migrated/relay-claude/relay-harness.test-helper.js';
import { legacyTracesDir } from './paths.js';
import { startPrivateRedis, type PrivateRedis } from './redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from './redis-snapshot.js';

export interface RelayFixtureOptions {
  /** Recorded trace whose `redis.before.json` is loaded before every test (the keyspace is emptied first). */
  trace: string;
  /** The frozen clock of every relay served. */
  atMs: number;
  /** Mock upstream settings; default: no delays. */
  mock?: MockUpstreamOptions;
  /** Runs after the snapshot load, before every test (accounts, key fields the tests add). */
  seed?: (redis: Redis) => Promise<void>;
}

export interface RelayFixture {
  readonly redis: Redis;
  readonly mock: MockUpstream;
  /** Serve `factory` (upstream: the mock unless `upstream` is given), run `fn`, always close. */
  withRelay<T>(factory: MigratedModuleFactory, fn: (h: RelayHarness) => Promise<T>, opts?: { upstream?: string; atMs?: number }): Promise<T>;
  /** The sequence number of the mock's last recorded request (0 when none). */
  mark(): number;
  /** The mock's recorded requests after `mark()`. */
  upstreamAfter(seq: number): RecordedUpstream[];
}

/**
 * The relay tests' common set-up, registered as vitest hooks of the calling file: one private
 * redis-server and one mock upstream for the file, and before each test the recorded Redis state
 * of `trace` (plus `seed`). Call it at the top level of a test file.
 */
export function useRelayFixture(opts: RelayFixtureOptions): RelayFixture {
  const state = JSON.parse(readFileSync(join(legacyTracesDir, opts.trace, 'redis.before.json'), 'utf8')) as RedisSnapshot;
  let server: PrivateRedis | undefined;
  let redis: Redis | undefined;
  let mock: MockUpstream | undefined;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = server.client();
    mock = await startMockUpstream(opts.mock ?? { settings: { chunkDelayMs: 0, splitDelayMs: 0, latencyMs: 0 } });
  });
  afterAll(async () => {
    await mock?.close();
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await loadRedisSnapshot(fixture.redis, state);
    await opts.seed?.(fixture.redis);
  });
  const started = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`relay fixture: ${what} is used before beforeAll ran`);
    return v;
  };
  const fixture: RelayFixture = {
    get redis() {
      return started(redis, 'redis');
    },
    get mock() {
      return started(mock, 'the mock upstream');
    },
    async withRelay(factory, fn, o = {}) {
      const h = await serveRelay(factory, fixture.redis, { atMs: o.atMs ?? opts.atMs, upstreamOverride: o.upstream ?? fixture.mock.url });
      try {
        return await fn(h);
      } finally {
        await h.close();
      }
    },
    mark: () => fixture.mock.requests().at(-1)?.seq ?? 0,
    upstreamAfter: (seq) => fixture.mock.requests().filter((r) => r.seq > seq),
  };
  return fixture;
}
