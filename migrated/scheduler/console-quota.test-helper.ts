import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { PgStore } from '../pg/store.js';
import type { Clock } from '../runtime/clock.js';

export interface RedisWithPg {
  readonly redis: Redis;
  readonly pgStore: PgStore;
}

/**
 * The daily-quota tests' stores (Console and CCR), registered as vitest hooks of the calling file or
 * describe: a private redis-server emptied before each test and a private PostgreSQL schema.
 */
export function useRedisWithPg(schema: string, clock: Clock): RedisWithPg {
  const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
  let server: PrivateRedis | undefined;
  let redis: Redis | undefined;
  let pg: PrivateSchema | undefined;
  let pgStore: PgStore | undefined;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = server.client();
    pg = await privateSchema(schema);
    pgStore = new PgStore(pg.sql, clock, silent as never);
    await pgStore.ensureSchema();
  });
  afterAll(async () => {
    await pg?.drop();
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis!.flushdb();
  });
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('useRedisWithPg: used before beforeAll ran');
    return v;
  };
  return {
    get redis() {
      return started(redis);
    },
    get pgStore() {
      return started(pgStore);
    },
  };
}
