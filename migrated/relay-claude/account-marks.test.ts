import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { StickySessions } from '../storage/sessions.js';
import { ConsoleMarks, OfficialMarks } from './account-marks.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
let server: PrivateRedis;
let redis: Redis;
let official: OfficialMarks;
let consoleMarks: ConsoleMarks;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  const clock = frozenClock(NOW);
  const d = { redis, clock, accounts: new AccountRepository({ redis, clock }), sticky: new StickySessions(redis) };
  official = new OfficialMarks(d);
  consoleMarks = new ConsoleMarks(d);
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await redis.flushdb();
});

describe('official account marks', () => {
  it('success: 5h status stored, error counters cleared, an active rate limit removed (schedulable restored)', async () => {
    await redis.hset('claude:account:o1', {
      id: 'o1',
      isActive: 'true',
      schedulable: 'false',
      rateLimitStatus: 'limited',
      rateLimitedAt: '2026-11-26T11:00:00.000Z',
      rateLimitEndAt: '2026-11-26T13:00:00.000Z',
      rateLimitAutoStopped: 'true',
    });
    await redis.set('claude_account:o1:401_errors', '1');
    await redis.set('claude_account:o1:5xx_errors', '2');
    await official.afterSuccess('o1', 'allowed');
    const a = await redis.hgetall('claude:account:o1');
    expect(a).toMatchObject({ schedulable: 'true', sessionWindowStatus: 'allowed', sessionWindowStatusUpdatedAt: new Date(NOW).toISOString() });
    for (const f of ['rateLimitStatus', 'rateLimitedAt', 'rateLimitEndAt', 'rateLimitAutoStopped']) expect(a).not.toHaveProperty(f);
    expect(await redis.exists('claude_account:o1:401_errors', 'claude_account:o1:5xx_errors')).toBe(0);
  });

  it('allowed_warning with autoStopOnWarning stops scheduling once per window; unknown statuses are ignored', async () => {
    await redis.hset('claude:account:o2', { id: 'o2', isActive: 'true', schedulable: 'true', autoStopOnWarning: 'true', sessionWindowEnd: '2026-11-26T16:00:00.000Z' });
    await official.afterSuccess('o2', 'allowed_warning');
    expect(await redis.hgetall('claude:account:o2')).toMatchObject({
      schedulable: 'false',
      fiveHourAutoStopped: 'true',
      fiveHourWarningWindow: '2026-11-26T16:00:00.000Z',
      fiveHourWarningCount: '1',
    });
    await official.afterSuccess('o2', 'bogus');
    expect(await redis.hget('claude:account:o2', 'sessionWindowStatus')).toBe('allowed_warning');
  });

  it('429 with a reset: limited until the reset, window = reset − 5 h, mapping and legacy sticky key deleted', async () => {
    await redis.hset('claude:account:o3', { id: 'o3', isActive: 'true', schedulable: 'true' });
    await redis.set('unified_claude_session_mapping:h', '{"accountId":"o3","accountType":"claude-official"}');
    await redis.set('sticky_session:h', 'x');
    await official.rateLimited('o3', 'h', Date.parse('2026-11-26T14:00:00Z') / 1000);
    expect(await redis.hgetall('claude:account:o3')).toMatchObject({
      rateLimitStatus: 'limited',
      schedulable: 'false',
      rateLimitAutoStopped: 'true',
      rateLimitEndAt: '2026-11-26T14:00:00.000Z',
      sessionWindowStart: '2026-11-26T09:00:00.000Z',
      sessionWindowEnd: '2026-11-26T14:00:00.000Z',
    });
    expect(await redis.exists('unified_claude_session_mapping:h', 'sticky_session:h')).toBe(0);
  });

  it('401 → unauthorized after the first error; 5xx → temp-unavailable 300 s', async () => {
    await redis.hset('claude:account:o4', { id: 'o4', isActive: 'true', schedulable: 'true' });
    await official.unauthorized('o4', null);
    expect(await redis.hgetall('claude:account:o4')).toMatchObject({ status: 'unauthorized', schedulable: 'false', errorMessage: 'Account unauthorized (401 errors detected)' });
    expect(await redis.ttl('claude_account:o4:401_errors')).toBe(300);
    await official.serverError('o4', null);
    expect(await redis.get('temp_unavailable:claude-official:o4')).toBe('1');
    expect(await redis.ttl('temp_unavailable:claude-official:o4')).toBe(300);
  });
});

describe('console account marks', () => {
  it('429 → rate limited (isActive false, status rate_limited); success with the read hash restores it', async () => {
    await redis.hset('claude_console_account:c1', { id: 'c1', isActive: 'true', status: 'active', schedulable: 'true' });
    await consoleMarks.rateLimited('c1');
    const limited = await redis.hgetall('claude_console_account:c1');
    expect(limited).toMatchObject({ rateLimitStatus: 'limited', isActive: 'false', schedulable: 'false', status: 'rate_limited', rateLimitAutoStopped: 'true' });
    expect(limited['errorMessage']).toBe(`Rate limited at ${new Date(NOW).toISOString()}`);
    await consoleMarks.success('c1', limited);
    expect(await redis.hgetall('claude_console_account:c1')).toEqual({ id: 'c1', isActive: 'true', status: 'active', schedulable: 'true', errorMessage: '' });
  });

  it('rateLimitDuration 0 disables marking', async () => {
    await redis.hset('claude_console_account:c2', { id: 'c2', isActive: 'true', status: 'active', rateLimitDuration: '0' });
    await consoleMarks.rateLimited('c2');
    expect(await redis.hget('claude_console_account:c2', 'rateLimitStatus')).toBeNull();
  });
});
