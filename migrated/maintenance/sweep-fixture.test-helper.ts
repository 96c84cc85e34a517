import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { PgStore } from '../pg/store.js';
import type { Clock } from '../runtime/clock.js';

/** What a sweep logged, by level. */
export interface LoggedLine {
  level: string;
  msg: string;
  obj: object;
}

/** A maintenance log that records its lines. */
export function recordingLog(): { lines: LoggedLine[]; log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void; info(obj: object, msg: string): void } } {
  const lines: LoggedLine[] = [];
  return {
    lines,
    log: {
      warn: (obj, msg) => void lines.push({ level: 'warn', msg, obj }),
      error: (obj, msg) => void lines.push({ level: 'error', msg, obj }),
      info: (obj, msg) => void lines.push({ level: 'info', msg, obj }),
    },
  };
}

export interface SweepFixture {
  redis: Redis;
  pg: PrivateSchema;
  store: PgStore;
}

/**
 * A private redis-server and PostgreSQL schema (with the legacy's tables) for a sweep suite, emptied before each
 * test; the returned object is filled in by beforeAll.
 */
export function sweepFixture(schemaPrefix: string, clock: Clock, lines: LoggedLine[]): SweepFixture {
  const f = {} as SweepFixture;
  let server: PrivateRedis;
  beforeAll(async () => {
    server = await startPrivateRedis();
    f.redis = server.client();
    f.pg = await privateSchema(schemaPrefix);
    f.store = new PgStore(f.pg.sql, clock, { warn: () => undefined } as unknown as Pick<Logger, 'warn'>);
    expect(await f.store.ensureSchema()).toBe(true);
  });
  afterAll(async () => {
    await f.pg?.drop();
    await server?.stop();
  });
  beforeEach(async () => {
    await f.redis.flushall();
    await f.pg.sql`delete from api_keys`;
    await f.pg.sql`delete from accounts`;
    lines.length = 0;
  });
  return f;
}
