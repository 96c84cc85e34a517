import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { frozenClock, type Clock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { StickySessions } from '../storage/sessions.js';
import { ClaudeScheduler, SchedulerError, sortCandidates } from './claude-scheduler.js';
import { countRedisTraffic } from '../relay-claude/redis-traffic.test-helper.js';
import { sessionHashOf } from './session-hash.js';

const OFFICIAL = '7ddd352c-bc47-4d4c-a73b-f5b5ccf5ec9f';
const CONSOLE = 'a02045ea-9d91-47f4-a198-5eeb3aa35e39';
const LAB_ENCRYPTION_KEY = 'lab-encryption-key-32chars-00000';

const read = (trace: string, file: string): unknown => JSON.parse(readFileSync(join(legacyTracesDir, trace, file), 'utf8'));

let server: PrivateRedis;
let redis: Redis;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

function makeScheduler(clock: Clock, renewalThresholdMinutes = 0): ClaudeScheduler {
  return new ClaudeScheduler({
    redis,
    clock,
    accounts: new AccountRepository({ redis, clock }),
    sticky: new StickySessions(redis, { renewalThresholdMinutes }),
  });
}

async function scheduleTrace(trace: string) {
  const before = read(trace, 'redis.before.json') as RedisSnapshot;
  await loadRedisSnapshot(redis, before);
  const req = read(trace, 'request.json') as { headers: Record<string, string>; body: string };
  const raw = req.headers['x-api-key'] ?? req.headers['authorization']!.replace('Bearer ', '');
  const hash = createHash('sha256').update(raw + LAB_ENCRYPTION_KEY).digest('hex');
  const keyId = await redis.hget('apikey:hash_map', hash);
  const key = await redis.hgetall(`apikey:${keyId}`);
  const body = JSON.parse(req.body) as { model: string };
  const meta = read(trace, 'meta.json') as { capturedAt: string };
  const scheduler = makeScheduler(frozenClock(Date.parse(meta.capturedAt) - 1000), 15);
  return { result: await scheduler.select(key, sessionHashOf(body), body.model), body };
}

const cases: Array<[string, string, string, string | null]> = [
  ['04-messages-nonstream-oauth-first', OFFICIAL, 'claude-official', null],
  ['07-messages-nonstream-console', CONSOLE, 'claude-console', null],
  ['09-messages-nonstream-pool', OFFICIAL, 'claude-official', '8aef6dbe1e55c4fb80d31f7ca36e0b84'],
  ['10-claude-code-style-stream-pool', CONSOLE, 'claude-console', '11111111-2222-4333-8444-555555555555'],
  ['11-claude-code-style-stream-pool-again', CONSOLE, 'claude-console', null],
  ['27-after-429-console-next', OFFICIAL, 'claude-official', '75cd4a0df97ef5533948e7f915d07968'],
  ['37-after-500-oauth-next', OFFICIAL, 'claude-official', '0e29f94a4c6dfb44b5e774403f9e365b'],
  ['40-messages-nonstream-console-final', CONSOLE, 'claude-console', null],
];

describe('Claude scheduler reproduces the recorded choices and mapping writes', () => {
  for (const [trace, id, type, createdMapping] of cases) {
    it(trace, async () => {
      const { result } = await scheduleTrace(trace);
      expect({ accountId: result.accountId, accountType: result.accountType }).toEqual({ accountId: id, accountType: type });
      const after = read(trace, 'redis.after.json') as RedisSnapshot;
      const mappings = (await redis.keys('unified_claude_session_mapping:*')).sort();
      const expected = Object.keys(after).filter((k) => k.startsWith('unified_claude_session_mapping:')).sort();
      expect(mappings).toEqual(expected);
      if (createdMapping) {
        const k = `unified_claude_session_mapping:${createdMapping}`;
        expect(await redis.get(k)).toBe((after[k] as { value: string }).value);
        expect(await redis.ttl(k)).toBe(3600);
      }
    });
  }

  it('30-after-429-oauth-next: dedicated account still limited → CLAUDE_DEDICATED_RATE_LIMITED with the stored end', async () => {
    const err = await scheduleTrace('30-after-429-oauth-next').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchedulerError);
    expect((err as SchedulerError).code).toBe('CLAUDE_DEDICATED_RATE_LIMITED');
    expect((err as SchedulerError).rateLimitEndAt).toBe('2026-11-26T12:52:15.000Z');
  });
});

describe('scheduler rules on a hand-built keyspace', () => {
  const clock = frozenClock(Date.parse('2026-11-26T12:00:00Z'));
  const official = (id: string, extra: Record<string, string> = {}) =>
    redis.hset(`claude:account:${id}`, { id, isActive: 'true', status: 'active', accountType: 'shared', schedulable: 'true', priority: '50', ...extra });

  it('priority first, then least recently used ("0"/never used first)', async () => {
    await redis.flushdb();
    await official('a', { lastUsedAt: '2026-11-26T11:00:00.000Z' });
    await official('b', { lastUsedAt: '' });
    await official('c', { priority: '10', lastUsedAt: '2026-11-26T11:59:00.000Z' });
    const s = makeScheduler(clock);
    expect((await s.select({}, null, 'claude-sonnet-4')).accountId).toBe('c');
    await redis.hset('claude:account:c', 'priority', '0'); // 0 is treated as 50
    expect((await s.select({}, null, 'claude-sonnet-4')).accountId).toBe('b');
    expect(sortCandidates([{ priority: 50, lastUsedAt: '2026-01-01T00:00:00Z' }, { priority: 50, lastUsedAt: '0' }])[0]!.lastUsedAt).toBe('0');
  });

  it('excludes temp-unavailable, rate-limited, unschedulable, non-Claude models; expired limits are cleared on read', async () => {
    await redis.flushdb();
    await official('t');
    await redis.setex('temp_unavailable:claude-official:t', 300, '1');
    await official('r', { rateLimitStatus: 'limited', rateLimitedAt: '2026-11-26T11:30:00.000Z', rateLimitEndAt: '2026-11-26T13:00:00.000Z' });
    await official('x', { rateLimitStatus: 'limited', rateLimitedAt: '2026-11-26T10:00:00.000Z', rateLimitEndAt: '2026-11-26T11:00:00.000Z', rateLimitAutoStopped: 'true' });
    const s = makeScheduler(clock);
    expect((await s.select({}, null, 'claude-sonnet-4')).accountId).toBe('x');
    expect(await redis.hgetall('claude:account:x')).not.toHaveProperty('rateLimitStatus');
    await expect(s.select({}, null, 'gpt-4o')).rejects.toThrow('No available Claude accounts support the requested model: gpt-4o');
  });

  it('a pool of twenty accounts costs about the sequential round trips of one (accounts are checked side by side), same pick', async () => {
    const console = (id: string, extra: Record<string, string> = {}) =>
      redis.hset(`claude_console_account:${id}`, { id, isActive: 'true', status: 'active', accountType: 'shared', schedulable: 'true', priority: '50', ...extra });
    const waves = async (n: number) => {
      await redis.flushdb();
      for (let i = 0; i < n; i++) {
        await official(`o${i}`, { lastUsedAt: `2026-11-26T11:${String(10 + i).padStart(2, '0')}:00.000Z` });
        await console(`c${i}`, { lastUsedAt: `2026-11-26T10:${String(10 + i).padStart(2, '0')}:00.000Z` });
      }
      const s = makeScheduler(clock);
      const traffic = await countRedisTraffic(redis);
      traffic.reset();
      const picked = (await s.select({}, null, 'claude-sonnet-4')).accountId;
      const w = traffic.waves;
      traffic.stop();
      return { picked, waves: w };
    };
    const one = await waves(1);
    const twenty = await waves(20);
    // the least recently used of the eligible: the console account used first (10:10)
    expect(one.picked).toBe('c0');
    expect(twenty.picked).toBe('c0');
    // A wave is a write after a reply arrived, so the count depends on how Redis chunks its replies: when
    // one wave's answers arrive in two reads, the accounts answered first start the next wave early (the
    // 1 + 1 pool measures 5-8, the 20 + 20 pool 5-10 under load). Checking the forty accounts one after
    // another costs ~3 waves each (65 for this pool); side by side stays far below one per account.
    expect(one.waves).toBeLessThan(12);
    expect(twenty.waves).toBeLessThan(20);
  });

  it('sticky mapping wins over LRU, is dropped when its account became unavailable', async () => {
    await redis.flushdb();
    await official('old', { lastUsedAt: '2026-11-26T09:00:00.000Z' });
    await official('new', { lastUsedAt: '2026-11-26T11:00:00.000Z' });
    await redis.setex('unified_claude_session_mapping:h', 3600, JSON.stringify({ accountId: 'new', accountType: 'claude-official' }));
    const s = makeScheduler(clock);
    expect((await s.select({}, 'h', 'claude-x')).accountId).toBe('new');
    await redis.hset('claude:account:new', 'schedulable', 'false');
    expect((await s.select({}, 'h', 'claude-x')).accountId).toBe('old');
    expect(await redis.get('unified_claude_session_mapping:h')).toBe('{"accountId":"old","accountType":"claude-official"}');
  });

  it('all eligible console accounts at their concurrency limit → CONSOLE_ACCOUNT_CONCURRENCY_FULL', async () => {
    await redis.flushdb();
    await redis.hset('claude_console_account:c1', { id: 'c1', isActive: 'true', status: 'active', accountType: 'shared', maxConcurrentTasks: '1' });
    await redis.zadd('concurrency:console_account:c1', clock.now() + 60_000, 'lease');
    const s = makeScheduler(clock);
    await expect(s.select({}, null, 'claude-x')).rejects.toMatchObject({ code: 'CONSOLE_ACCOUNT_CONCURRENCY_FULL' });
    await redis.zadd('concurrency:console_account:c1', clock.now() - 1, 'lease'); // expired lease is purged by the read
    expect(await s.select({}, null, 'claude-x')).toEqual({ accountId: 'c1', accountType: 'claude-console' });
  });

  it('group binding picks among members only and knows Bedrock in the pool', async () => {
    await redis.flushdb();
    await official('m1', { lastUsedAt: '2026-11-26T11:00:00.000Z', accountType: 'dedicated' });
    await official('m2', { lastUsedAt: '2026-11-26T10:00:00.000Z', status: 'blocked' });
    await redis.hset('account_group:g', { id: 'g', name: 'G', platform: 'claude' });
    await redis.sadd('account_group_members:g', 'm1', 'm2');
    const s = makeScheduler(clock);
    expect(await s.select({ claudeAccountId: 'group:g' }, null, 'claude-x')).toEqual({ accountId: 'm1', accountType: 'claude-official' });
    await redis.set('bedrock_account:b1', JSON.stringify({ id: 'b1', isActive: true, accountType: 'shared', schedulable: true, priority: 1 }));
    expect(await s.select({}, null, 'claude-x')).toEqual({ accountId: 'b1', accountType: 'bedrock' });
  });
});
