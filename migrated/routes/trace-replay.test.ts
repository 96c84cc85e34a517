import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { suiteRedis } from '../auth/auth-test-kit.test-helper.js';
import { dumpRedisSnapshot, diffRedisSnapshots } from '../../test-support/redis-snapshot.js';
import { createHealthModule } from './health/index.js';
import { createClaudeHealthModule } from './claude-health/index.js';
import { createKeyInfoModule } from './key-info/index.js';
import { createModelsModule } from './models/index.js';
import { createNotFoundModule } from './not-found/index.js';
import { loadTrace, replayTrace, withoutDate } from './shared/trace-replay.test-helper.js';
import type { MigratedModuleFactory } from '../module.js';

/**
 * Recorded legacy exchanges replayed against the migrated modules: status, every response
 * header in wire order (Date excepted), body bytes (hence ETag and Content-Length), and the
 * Redis after-state.
 */
const redisOf = suiteRedis({ flushEachTest: false });
let redis: Redis;
beforeEach(() => {
  redis = redisOf();
});

const exact: Array<[string, MigratedModuleFactory]> = [
  ['03-models', createModelsModule],
  ['16-openai-models', createModelsModule],
  ['17-key-info', createKeyInfoModule],
  ['18-bad-key', createModelsModule],
  ['19-missing-key', createModelsModule],
  ['20-malformed-json', createNotFoundModule],
  ['21-unknown-route', createNotFoundModule],
  ['02-api-health', createClaudeHealthModule],
];

describe('byte-identical replays of the recorded legacy exchanges', () => {
  for (const [name, factory] of exact) {
    it(name, async () => {
      const trace = loadTrace(name);
      const { res } = await replayTrace(trace, factory, redis);
      expect(res.status).toBe(trace.response.status);
      expect(withoutDate(res.rawHeaders)).toEqual(withoutDate(trace.response.rawHeaders));
      expect(res.body.toString('utf8')).toBe(trace.responseBody.toString('utf8'));
      const after = await dumpRedisSnapshot(redis);
      expect(diffRedisSnapshots(trace.redisAfter, after, { ttlTolerance: 5 })).toEqual([]);
    });
  }

  it('01-health: same header set and order, same body shape with process-state fields measured', async () => {
    const trace = loadTrace('01-health');
    const { res } = await replayTrace(trace, createHealthModule, redis);
    expect(res.status).toBe(200);
    const names = (raw: string[]) => raw.map((h) => h.split(':')[0]);
    expect(names(res.rawHeaders)).toEqual(names(trace.response.rawHeaders));
    const got = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
    const want = JSON.parse(trace.responseBody.toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(got)).toEqual(Object.keys(want));
    expect(got.status).toBe('healthy');
    expect(got.service).toBe('claude-relay-service');
    expect(got.version).toBe('1.1.234');
    expect(Object.keys(got.memory as object)).toEqual(['used', 'total', 'external']);
    expect(Object.keys(got.components as object)).toEqual(['redis', 'postgres', 'logger']);
    expect((got.components as Record<string, Record<string, unknown>>).redis!.status).toBe('healthy');
    expect((got.components as Record<string, Record<string, unknown>>).postgres).toEqual({ status: 'disabled' });
    expect(Object.keys(got.stats as object)).toEqual(['requests', 'errors', 'warnings']);
  });
});
