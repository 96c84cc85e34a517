import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PgStore } from '../pg/store.js';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { StickySessions } from '../storage/sessions.js';
import { ClaudeScheduler } from './claude-scheduler.js';
import { ConsoleAccountState } from './console-quota.js';
import { useRedisWithPg } from './console-quota.test-helper.js';

const ID = 'c0n50le0-0000-4000-8000-000000000001';
const KEY = `claude_console_account:${ID}`;
// 2026-11-26 10:00 UTC = 18:00 at UTC+8 (zone date 2026-11-26)
const AT = Date.parse('2026-11-26T10:00:00.000Z');
const DAILY = `account_usage:daily:${ID}:2026-11-26`;

const clock = frozenClock(AT, 8);

const stores = useRedisWithPg('gwquota', clock);
let redis: Redis;
let pgStore: PgStore;
beforeAll(() => {
  ({ redis, pgStore } = stores);
});

function state(blockedMinutes = 0, withPg = false) {
  const accounts = new AccountRepository({ redis, clock, pgStore: withPg ? pgStore : null });
  return { accounts, st: new ConsoleAccountState({ redis, clock, accounts, blockedMinutes }) };
}

const account = (fields: Record<string, string> = {}) =>
  redis.hset(KEY, { id: ID, name: 'c1', isActive: 'true', status: 'active', schedulable: 'true', accountType: 'shared', priority: '50', dailyQuota: '5', quotaResetTime: '00:00', supportedModels: '[]', ...fields });

describe('checkQuotaUsage (claudeConsoleAccountService)', () => {
  it("today's cost at the quota: the fields updateAccount really writes, in its order, mirrored to PostgreSQL", async () => {
    await account({ rateLimitAutoStopped: 'true' });
    await redis.hset(DAILY, 'cost', '5.0000001');
    const { st } = state(0, true);
    await st.checkQuotaUsage(ID);
    const after = await redis.hgetall(KEY);
    expect(after).toMatchObject({
      isActive: 'false',
      schedulable: 'false',
      rateLimitAutoStopped: '',
      quotaAutoStopped: '',
      autoStoppedAt: '',
      stoppedReason: '',
      quotaStoppedAt: new Date(AT).toISOString(),
      updatedAt: new Date(AT).toISOString(),
      status: 'active', // the legacy's updateAccount drops status / errorMessage / quotaAutoStopped:'true'
    });
    expect(after['errorMessage']).toBeUndefined();
    const keysInOrder = Object.keys(after);
    expect(keysInOrder.slice(keysInOrder.indexOf('autoStoppedAt'))).toEqual(['autoStoppedAt', 'stoppedReason', 'quotaStoppedAt', 'updatedAt']);
    expect(await pgStore.getAccount('claude-console', ID)).toMatchObject({ isActive: 'false', quotaStoppedAt: new Date(AT).toISOString(), schedulable: 'false' });
  });

  it('below the quota, no quota, or already stopped: nothing written', async () => {
    const { st } = state();
    for (const [fields, cost] of [
      [{}, '4.99'],
      [{ dailyQuota: '0' }, '100'],
      [{ dailyQuota: 'abc' }, '100'],
      [{ isActive: 'false', quotaStoppedAt: '2026-11-26T01:00:00.000Z' }, '100'],
    ] as Array<[Record<string, string>, string]>) {
      await redis.flushdb();
      await account(fields);
      await redis.hset(DAILY, 'cost', cost);
      const before = await redis.hgetall(KEY);
      await st.checkQuotaUsage(ID);
      expect(await redis.hgetall(KEY)).toEqual(before);
    }
  });

  it('known hash without a quota: no read at all (free on the hot path)', async () => {
    await account({ dailyQuota: '5' });
    await redis.hset(DAILY, 'cost', '9');
    const { st } = state();
    await st.checkQuotaUsage(ID, { dailyQuota: '0' });
    expect(await redis.hget(KEY, 'quotaStoppedAt')).toBeNull();
    expect(await st.isQuotaExceeded(ID, { dailyQuota: '' })).toBe(false);
  });
});

describe('isQuotaExceeded and the daily reset on read', () => {
  it('stopped and already reset today (per the double-shifted date): still exceeded', async () => {
    // 18:00 local: the legacy's doubly shifted "today" is already 2026-11-27
    await account({ isActive: 'false', status: 'quota_exceeded', quotaStoppedAt: 'x', lastResetDate: '2026-11-27' });
    expect(await state().st.isQuotaExceeded(ID)).toBe(true);
  });

  it('reset point passed: lastResetDate (single shift), re-enabled when stopped as quota_exceeded / rate_limited', async () => {
    await account({ isActive: 'false', status: 'rate_limited', quotaStoppedAt: 'x', lastResetDate: '2026-11-26', quotaAutoStopped: 'true', schedulable: 'false', rateLimitedAt: 'y', rateLimitStatus: 'limited', rateLimitAutoStopped: 'true' });
    expect(await state().st.isQuotaExceeded(ID)).toBe(false);
    const after = await redis.hgetall(KEY);
    expect(after).toMatchObject({ isActive: 'true', schedulable: 'true', quotaAutoStopped: '', quotaStoppedAt: '', lastResetDate: '2026-11-26', status: 'rate_limited' });
    expect(after['rateLimitedAt']).toBeUndefined();
    expect(after['rateLimitAutoStopped']).toBe('');
  });

  it('before the reset time of day: exceeded, nothing written', async () => {
    await account({ isActive: 'false', status: 'quota_exceeded', quotaStoppedAt: 'x', lastResetDate: '2026-11-25', quotaResetTime: '23:30' });
    const before = await redis.hgetall(KEY);
    expect(await state().st.isQuotaExceeded(ID)).toBe(true);
    expect(await redis.hgetall(KEY)).toEqual(before);
  });

  it('stopped by checkQuotaUsage alone (status left active): the reset only records the date', async () => {
    await account({ isActive: 'false', status: 'active', quotaStoppedAt: 'x', lastResetDate: '2026-11-25' });
    expect(await state().st.isQuotaExceeded(ID)).toBe(false);
    expect(await redis.hgetall(KEY)).toMatchObject({ isActive: 'false', quotaStoppedAt: 'x', lastResetDate: '2026-11-26' });
  });
});

describe('400 block marks (CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES)', () => {
  it('minutes > 0: the block fields; the check holds it until the minutes pass, then lifts it', async () => {
    await account();
    const { st } = state(10);
    await st.markBlocked(ID);
    expect(await redis.hgetall(KEY)).toMatchObject({
      blockedAt: new Date(AT).toISOString(),
      blockedStatus: 'blocked',
      isActive: 'false',
      schedulable: 'false',
      status: 'account_blocked',
      errorMessage: '账户临时被禁用（400错误）',
      blockedAutoStopped: 'true',
    });
    expect(await st.isBlocked(ID)).toBe(true);
    const later = new ConsoleAccountState({ redis, clock: frozenClock(AT + 10 * 60_000, 8), accounts: state().accounts, blockedMinutes: 10 });
    expect(await later.isBlocked(ID)).toBe(false);
    const after = await redis.hgetall(KEY);
    expect(after).toMatchObject({ isActive: 'true', status: 'active', errorMessage: '', schedulable: 'true' });
    expect(after['blockedStatus']).toBeUndefined();
    expect(after['blockedAutoStopped']).toBeUndefined();
  });

  it('minutes 0: no block written, an existing one lifted (quota-stopped → quota_exceeded)', async () => {
    await account({ blockedStatus: 'blocked', blockedAt: new Date(AT).toISOString(), status: 'account_blocked', isActive: 'false', quotaStoppedAt: 'q' });
    const { st } = state(0);
    await st.markBlocked(ID);
    const after = await redis.hgetall(KEY);
    expect(after).toMatchObject({ status: 'quota_exceeded', isActive: 'false' });
    expect(after['blockedStatus']).toBeUndefined();
  });
});

describe('in the scheduler', () => {
  it('the shared pool runs the quota check: over its quota the account is stopped (still chosen this once, as in the legacy), then left out', async () => {
    await account();
    await redis.hset(DAILY, 'cost', '7');
    const accounts = new AccountRepository({ redis, clock });
    const scheduler = new ClaudeScheduler({ redis, clock, accounts, sticky: new StickySessions(redis, {}), consoleState: new ConsoleAccountState({ redis, clock, accounts, blockedMinutes: 0 }) });
    // the legacy's isAccountQuotaExceeded right after the stop "resets" (no lastResetDate yet) and answers false
    expect((await scheduler.select({}, null, 'claude-sonnet-4-5')).accountId).toBe(ID);
    expect(await redis.hgetall(KEY)).toMatchObject({ isActive: 'false', quotaStoppedAt: new Date(AT).toISOString(), lastResetDate: '2026-11-26' });
    await expect(scheduler.select({}, null, 'claude-sonnet-4-5')).rejects.toThrow(/No available Claude accounts/);
  });

  it('an expired subscription does not keep a listed account out of the pool (the legacy reads it from a summary without the field)', async () => {
    await account({ dailyQuota: '0', subscriptionExpiresAt: '2026-01-01T00:00:00.000Z' });
    const accounts = new AccountRepository({ redis, clock });
    const scheduler = new ClaudeScheduler({ redis, clock, accounts, sticky: new StickySessions(redis, {}) });
    expect((await scheduler.select({}, null, 'claude-sonnet-4-5')).accountId).toBe(ID);
  });

  it('an expired block is lifted before the pool filter, and the account is chosen', async () => {
    await account({ blockedStatus: 'blocked', blockedAt: new Date(AT - 11 * 60_000).toISOString(), status: 'account_blocked', isActive: 'false', schedulable: 'false', blockedAutoStopped: 'true', dailyQuota: '0' });
    const accounts = new AccountRepository({ redis, clock });
    const scheduler = new ClaudeScheduler({ redis, clock, accounts, sticky: new StickySessions(redis, {}), consoleState: new ConsoleAccountState({ redis, clock, accounts, blockedMinutes: 10 }) });
    expect((await scheduler.select({}, null, 'claude-sonnet-4-5')).accountId).toBe(ID);
    expect(await redis.hget(KEY, 'status')).toBe('active');
  });
});
