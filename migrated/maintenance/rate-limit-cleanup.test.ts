import { describe, expect, it } from 'vitest';
import type { AnomalyNotifier } from '../notify/notifier.js';
import { buildWebhook, type NotificationData } from '../notify/payloads.js';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { startMaintenance } from './index.js';
import { recordingLog, sweepFixture } from './sweep-fixture.test-helper.js';
import { cleanupRateLimits, recoveryMessage } from './rate-limit-cleanup.js';

/** The legacy's 5-minute rate-limit cleanup (rateLimitCleanupService) on a real Redis and PostgreSQL. */
const NOW = Date.parse('2026-11-27T06:20:00.000Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const iso = (ms: number) => new Date(ms).toISOString();
const clock = frozenClock(NOW, 8);
const { lines: logged, log } = recordingLog();
const f = sweepFixture('gwrlc', clock, logged);

const accounts = () => new AccountRepository({ redis: f.redis, clock, pgStore: f.store });
const official = (id: string, fields: Record<string, string>) => f.redis.hset(`claude:account:${id}`, { id, name: `name-${id}`, isActive: 'true', schedulable: 'true', status: 'active', ...fields });
const consoleAccount = (id: string, fields: Record<string, string>) => f.redis.hset(`claude_console_account:${id}`, { id, name: `name-${id}`, isActive: 'true', schedulable: 'true', status: 'active', ...fields });
const run = () => cleanupRateLimits({ redis: f.redis, accounts: accounts(), nowMs: NOW, log, lockValue: () => 'test-lock' });
const pgData = async (type: string, id: string) => (await f.pg.sql<Array<{ data: Record<string, unknown> }>>`select data from accounts where type = ${type} and id = ${id}`)[0]?.data;

describe('official accounts: rate limits', () => {
  it('an expired limit is lifted (scheduling restored), a leftover auto-stop removed; live limits and clean accounts untouched', async () => {
    await official('expired', { schedulable: 'false', rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 2 * HOUR), rateLimitEndAt: iso(NOW - MIN), rateLimitAutoStopped: 'true' });
    await official('live', { rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - MIN), rateLimitEndAt: iso(NOW + HOUR) });
    await official('leftover', { schedulable: 'false', rateLimitAutoStopped: 'true' });
    await official('plain', {});
    const r = await run();
    expect(r.claude).toEqual({ checked: 3, cleared: 2, errors: 0 });
    expect(await f.redis.hgetall('claude:account:expired')).toEqual({ id: 'expired', name: 'name-expired', isActive: 'true', schedulable: 'true', status: 'active' });
    expect(await f.redis.hgetall('claude:account:leftover')).toEqual({ id: 'leftover', name: 'name-leftover', isActive: 'true', schedulable: 'true', status: 'active' });
    // mirrored as the legacy's whole-object save mirrors it (the scheduler's lift goes through the same function)
    expect(await pgData('claude', 'expired')).toEqual({ id: 'expired', name: 'name-expired', isActive: 'true', schedulable: 'true', status: 'active' });
    expect(await pgData('claude', 'leftover')).toEqual({ id: 'leftover', name: 'name-leftover', isActive: 'true', schedulable: 'true', status: 'active' });
    expect(await pgData('claude', 'live')).toBeUndefined();
    expect(await f.redis.hget('claude:account:live', 'rateLimitStatus')).toBe('limited');
    // in the listing's (SCAN) order
    expect(r.cleared.map((c) => [c.platform, c.accountId, c.accountName, c.previousStatus]).sort()).toEqual([
      ['Claude', 'expired', 'name-expired', 'rate_limited'],
      ['Claude', 'leftover', 'name-leftover', 'rate_limited'],
    ]);
  });
});

describe('official accounts: 5-hour stops (checkAndRecoverFiveHourStoppedAccounts)', () => {
  const stopped = { schedulable: 'false', fiveHourAutoStopped: 'true', fiveHourStoppedAt: iso(NOW - 3 * HOUR), stoppedReason: '5小时限制', fiveHourWarningCount: '2', fiveHourWarningWindow: 'w', sessionWindowStatus: 'rejected', sessionWindowStatusUpdatedAt: iso(NOW - 3 * HOUR) };

  it('a minute after the window ended: schedulable again, the next window follows the old one, stop and status fields gone', async () => {
    const end = NOW - 2 * MIN;
    await official('over', { ...stopped, sessionWindowStart: iso(end - 5 * HOUR), sessionWindowEnd: iso(end) });
    await official('grace', { ...stopped, sessionWindowStart: iso(NOW - 5 * HOUR), sessionWindowEnd: iso(NOW - 30_000) });
    await official('manual', { schedulable: 'false' });
    const r = await run();
    const newStart = new Date(end + 1);
    const newEnd = new Date(newStart.getTime());
    newEnd.setHours(newEnd.getHours() + 5);
    expect(await f.redis.hgetall('claude:account:over')).toEqual({
      id: 'over',
      name: 'name-over',
      isActive: 'true',
      schedulable: 'true',
      status: 'active',
      // dropped from the saved copy only, as in the legacy: HSET does not remove it
      stoppedReason: '5小时限制',
      sessionWindowStart: newStart.toISOString(),
      sessionWindowEnd: newEnd.toISOString(),
    });
    const mirrored = await pgData('claude', 'over');
    expect(mirrored).toMatchObject({ schedulable: 'true', sessionWindowStart: newStart.toISOString() });
    expect(mirrored).not.toHaveProperty('stoppedReason');
    expect(mirrored).not.toHaveProperty('fiveHourAutoStopped');
    expect(await f.redis.hget('claude:account:grace', 'schedulable')).toBe('false');
    expect(await f.redis.hget('claude:account:manual', 'schedulable')).toBe('false');
    expect(r.claude).toEqual({ checked: 2, cleared: 1, errors: 0 });
    expect(r.cleared).toEqual([
      { platform: 'Claude', accountId: 'over', accountName: 'name-over', previousStatus: '5hour_limited', currentStatus: 'active', windowInfo: { start: newStart.toISOString(), end: newEnd.toISOString() } },
    ]);
    expect(await f.redis.exists('lock:account:over:recovery')).toBe(0);
  });

  it('without a window: 5 h 1 min after the stop, a window from the current hour; an account another process holds is skipped', async () => {
    const { sessionWindowStatus: _s, sessionWindowStatusUpdatedAt: _u, ...noWindow } = stopped;
    await official('old-stop', { ...noWindow, fiveHourStoppedAt: iso(NOW - 5.1 * HOUR) });
    await official('recent-stop', { ...noWindow, fiveHourStoppedAt: iso(NOW - 5 * HOUR) });
    await official('held', { ...noWindow, fiveHourStoppedAt: iso(NOW - 6 * HOUR) });
    await f.redis.set('lock:account:held:recovery', 'other-process', 'PX', 5000);
    const r = await run();
    const start = new Date(NOW);
    start.setMinutes(0, 0, 0);
    const end = new Date(start.getTime());
    end.setHours(end.getHours() + 5);
    expect(await f.redis.hgetall('claude:account:old-stop')).toMatchObject({ schedulable: 'true', sessionWindowStart: start.toISOString(), sessionWindowEnd: end.toISOString() });
    expect(await f.redis.hget('claude:account:old-stop', 'fiveHourAutoStopped')).toBeNull();
    expect(await f.redis.hget('claude:account:recent-stop', 'schedulable')).toBe('false');
    expect(await f.redis.hget('claude:account:held', 'schedulable')).toBe('false');
    expect(await f.redis.get('lock:account:held:recovery')).toBe('other-process');
    expect(r.claude).toEqual({ checked: 3, cleared: 1, errors: 0 });
  });
});

describe('Console accounts', () => {
  it("only status 'rate_limited' is checked (the legacy's summary has no rateLimitStatus): an expired one is lifted and stamped", async () => {
    await consoleAccount('c-expired', { status: 'rate_limited', schedulable: 'false', rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 61 * MIN), rateLimitAutoStopped: 'true', errorMessage: 'Rate limited' });
    await consoleAccount('c-live', { status: 'rate_limited', rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 10 * MIN) });
    await consoleAccount('c-flag-only', { rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 2 * HOUR) });
    await f.redis.hset('claude_console_account:ghost', { name: 'no id field' });
    const r = await run();
    expect(r.claudeConsole).toEqual({ checked: 2, cleared: 1, errors: 0 });
    expect(await f.redis.hgetall('claude_console_account:c-expired')).toEqual({
      id: 'c-expired',
      name: 'name-c-expired',
      isActive: 'true',
      schedulable: 'true',
      status: 'active',
      errorMessage: '',
      updatedAt: iso(NOW),
    });
    expect(await pgData('claude-console', 'c-expired')).toMatchObject({ status: 'active', updatedAt: iso(NOW) });
    expect(await f.redis.hget('claude_console_account:c-live', 'status')).toBe('rate_limited');
    // left for the scheduler to lift when it next reads the account, as in the legacy
    expect(await f.redis.hget('claude_console_account:c-flag-only', 'rateLimitStatus')).toBe('limited');
    expect(await f.redis.exists('claude_console_account:ghost')).toBe(0);
    expect(r.cleared.map((c) => [c.platform, c.accountId])).toEqual([['Claude Console', 'c-expired']]);
  });
});

describe('the recovery notification', () => {
  it('the message lists each platform with its accounts; markdown formats add platforms and count, others the message', () => {
    const cleared = [
      { platform: 'Claude' as const, accountId: 'a1', accountName: 'one', previousStatus: 'rate_limited' as const, currentStatus: 'active' as const },
      { platform: 'Claude Console' as const, accountId: 'c1', accountName: 'two', previousStatus: 'rate_limited' as const, currentStatus: 'active' as const },
      { platform: 'Claude' as const, accountId: 'a2', accountName: undefined, previousStatus: '5hour_limited' as const, currentStatus: 'active' as const },
    ];
    const { message, platforms } = recoveryMessage(cleared);
    expect(message).toBe('🎉 共有 3 个账户的限流状态已恢复\n\n**Claude** (2 个):\n• one (ID: a1)\n• undefined (ID: a2)\n\n**Claude Console** (1 个):\n• two (ID: c1)\n\n');
    expect(platforms).toEqual(['Claude', 'Claude Console']);
    const data: NotificationData = { title: '限流恢复通知', message, totalAccounts: 3, platforms, accounts: cleared, timestamp: '2026-11-27T06:20:00.000Z' };
    const t = { nowMs: NOW, offsetHours: 8, timeZone: 'Asia/Shanghai' };
    const slack = buildWebhook({ type: 'slack', url: 'http://127.0.0.1:9/s' }, 'rateLimitRecovery', data, t)!;
    expect((slack.body as { text: string }).text).toBe(`*🎉 限流恢复通知*\n**涉及平台**: Claude, Claude Console\n**恢复账户数**: 3\n**消息**: ${message}`);
    const tg = buildWebhook({ type: 'telegram', botToken: 'b', chatId: 'c' }, 'rateLimitRecovery', data, t)!;
    expect((tg.body as { text: string }).text).toContain(`\n\n消息: ${message}\n\n时间: `);
    expect((tg.body as { text: string }).text).not.toContain('恢复账户数');
    const custom = buildWebhook({ type: 'custom', url: 'http://127.0.0.1:9/c' }, 'rateLimitRecovery', data, t)!;
    expect((custom.body as { data: unknown }).data).toBe(data);
  });

  it('the pass at start clears and notifies once; the timer repeats it; stop() ends it', async () => {
    await official('expired', { schedulable: 'false', rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 2 * HOUR), rateLimitEndAt: iso(NOW - MIN), rateLimitAutoStopped: 'true' });
    const sent: Array<{ type: string; data: NotificationData }> = [];
    const notifier: AnomalyNotifier = { accountAnomaly: () => undefined, notify: (type, data) => void sent.push({ type, data }), idle: async () => undefined };
    const m = startMaintenance({ redis: () => f.redis, pg: () => f.pg.sql, clock, log, notifier: () => notifier, intervalMs: HOUR, hourlyIntervalMs: HOUR, rateLimitIntervalMs: 50 });
    try {
      const deadline = Date.now() + 3000;
      while (sent.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(sent).toHaveLength(1);
      expect(sent[0]!.type).toBe('rateLimitRecovery');
      expect(sent[0]!.data).toMatchObject({ title: '限流恢复通知', totalAccounts: 1, platforms: ['Claude'], timestamp: iso(NOW) });
      expect(await f.redis.hget('claude:account:expired', 'schedulable')).toBe('true');
      // the next passes find nothing to clear and send nothing
      await new Promise((r) => setTimeout(r, 150));
      expect(sent).toHaveLength(1);
      await official('again', { rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 2 * HOUR), rateLimitEndAt: iso(NOW - MIN) });
      const again = Date.now() + 3000;
      while (sent.length === 1 && Date.now() < again) await new Promise((r) => setTimeout(r, 10));
      expect(sent).toHaveLength(2);
    } finally {
      m.stop();
    }
    await official('after-stop', { rateLimitStatus: 'limited', rateLimitedAt: iso(NOW - 2 * HOUR), rateLimitEndAt: iso(NOW - MIN) });
    await new Promise((r) => setTimeout(r, 200));
    expect(await f.redis.hget('claude:account:after-stop', 'rateLimitStatus')).toBe('limited');
  });
});
