import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { CcrQuota } from '../relay-ccr/ccr-quota.js';
import { ConsoleMarks, OfficialMarks } from '../relay-claude/account-marks.js';
import { frozenClock } from '../runtime/clock.js';
import { ConsoleAccountState } from '../scheduler/console-quota.js';
import { AccountRepository } from '../storage/accounts.js';
import { StickySessions } from '../storage/sessions.js';
import type { AnomalyInput, AnomalyNotifier } from './notifier.js';

/** Each relay account mark calls the notifier with the arguments the legacy passes at that spot. */
const NOW = Date.parse('2026-11-26T12:00:00.000Z'); // 20:00 at UTC+8
const TZ_NOW = '2026-11-26T20:00:00+08:00';
let server: PrivateRedis;
let redis: Redis;
let sent: AnomalyInput[];
const recorder: AnomalyNotifier = { accountAnomaly: (n) => void sent.push(n), notify: () => undefined, idle: async () => undefined };
let official: OfficialMarks;
let consoleMarks: ConsoleMarks;
let consoleState: ConsoleAccountState;
let ccr: CcrQuota;

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  const clock = frozenClock(NOW, 8);
  const accounts = new AccountRepository({ redis, clock });
  const d = { redis, clock, accounts, sticky: new StickySessions(redis), notify: recorder };
  official = new OfficialMarks(d);
  consoleMarks = new ConsoleMarks(d);
  consoleState = new ConsoleAccountState({ redis, clock, accounts, blockedMinutes: 10, notify: recorder });
  ccr = new CcrQuota({ redis, clock, accounts, notify: recorder });
});
afterAll(async () => {
  await server.stop();
});
beforeEach(async () => {
  await redis.flushdb();
  sent = [];
});

const oauth = (f: Record<string, string> = {}) => redis.hset('claude:account:o1', { id: 'o1', name: 'Max A', isActive: 'true', schedulable: 'true', ...f });
const cons = (f: Record<string, string> = {}) => redis.hset('claude_console_account:c1', { id: 'c1', name: 'Console A', isActive: 'true', schedulable: 'true', status: 'active', ...f });

describe('OAuth account marks', () => {
  it('401 and 403: status, code and errorMessage as reason, zone timestamp', async () => {
    await oauth();
    await official.unauthorized('o1', null);
    await official.error('o1', 'blocked', null);
    expect(sent).toEqual([
      { accountId: 'o1', accountName: 'Max A', platform: 'claude-oauth', status: 'unauthorized', errorCode: 'CLAUDE_OAUTH_UNAUTHORIZED', reason: 'Account unauthorized (401 errors detected)', timestamp: TZ_NOW },
      { accountId: 'o1', accountName: 'Max A', platform: 'claude-oauth', status: 'blocked', errorCode: 'CLAUDE_OAUTH_BLOCKED', reason: 'Account blocked (403 error detected - account may be suspended by Claude)', timestamp: TZ_NOW },
    ]);
  });

  it('429: reset time from the header in zone wall time, else the estimate; unnamed account is "Claude Account"', async () => {
    await oauth({ name: '' });
    await official.rateLimited('o1', null, NOW / 1000 + 3600);
    await official.rateLimited('o1', null, null);
    expect(sent.map((n) => [n.accountName, n.platform, n.status, n.errorCode, n.reason, n.timestamp])).toEqual([
      ['Claude Account', 'claude-oauth', 'error', 'CLAUDE_OAUTH_RATE_LIMITED', 'Account rate limited (429 error). Reset at: 2026-11-26 21:00:00 (UTC+8)', TZ_NOW],
      ['Claude Account', 'claude-oauth', 'error', 'CLAUDE_OAUTH_RATE_LIMITED', 'Account rate limited (429 error). Estimated reset in 1-5 hours', TZ_NOW],
    ]);
  });

  it('5h warning with autoStopOnWarning: one CLAUDE_5H_LIMIT_WARNING per window; a new window resumes with CLAUDE_5H_LIMIT_RESUMED', async () => {
    await oauth({ autoStopOnWarning: 'true', sessionWindowStart: '2026-11-26T11:00:00.000Z', sessionWindowEnd: '2026-11-26T16:00:00.000Z' });
    await official.sessionWindowStatus('o1', 'allowed_warning');
    await official.sessionWindowStatus('o1', 'allowed_warning'); // already auto-stopped: no second warning
    expect(sent).toEqual([{ accountId: 'o1', accountName: 'Max A', platform: 'claude', status: 'warning', errorCode: 'CLAUDE_5H_LIMIT_WARNING', reason: '5小时使用量接近限制，已自动停止调度', timestamp: TZ_NOW }]);
    sent = [];
    await redis.hset('claude:account:o1', { sessionWindowEnd: '2026-11-26T11:30:00.000Z' }); // window over
    await official.rateLimited('o1', null, null);
    expect(sent.map((n) => [n.platform, n.status, n.errorCode, n.reason])).toEqual([
      ['claude', 'resumed', 'CLAUDE_5H_LIMIT_RESUMED', '进入新的5小时窗口，已自动恢复调度'],
      ['claude-oauth', 'error', 'CLAUDE_OAUTH_RATE_LIMITED', 'Account rate limited (429 error). Estimated reset in 1-5 hours'],
    ]);
  });

  it('a missing account sends nothing', async () => {
    await official.unauthorized('nope', null);
    await official.rateLimited('nope', null, null);
    expect(sent).toEqual([]);
  });
});

describe('Console account marks', () => {
  it('401, 429 (minutes in the reason; none when rate limiting is off) and 529', async () => {
    await cons({ rateLimitDuration: '30' });
    await consoleMarks.unauthorized('c1');
    await consoleMarks.rateLimited('c1');
    await consoleMarks.overloaded('c1');
    await redis.hset('claude_console_account:c1', 'rateLimitDuration', '0');
    await consoleMarks.rateLimited('c1');
    const iso = new Date(NOW).toISOString();
    expect(sent).toEqual([
      { accountId: 'c1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_UNAUTHORIZED', reason: 'API Key无效或已过期（401错误），账户已停止调度', timestamp: iso },
      { accountId: 'c1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_RATE_LIMITED', reason: 'Account rate limited (429 error) and has been disabled. Will be automatically re-enabled after 30 minutes', timestamp: TZ_NOW },
      { accountId: 'c1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_OVERLOADED', reason: '服务过载（529错误）。账户将暂时停止调度', timestamp: iso },
    ]);
  });

  it('400 block and daily quota exceeded (no timestamp: the notifier fills the zone time)', async () => {
    await cons({ dailyQuota: '1' });
    await redis.hset('account_usage:daily:c1:2026-11-26', 'cost', '2.5');
    await consoleState.markBlocked('c1');
    await consoleState.checkQuotaUsage('c1');
    expect(sent).toEqual([
      { accountId: 'c1', accountName: 'Console A', platform: 'claude-console', status: 'error', errorCode: 'CLAUDE_CONSOLE_BLOCKED', reason: '账户临时被禁用（400错误）。账户将在 10 分钟后自动恢复。', timestamp: new Date(NOW).toISOString() },
      { accountId: 'c1', accountName: 'Console A', platform: 'claude-console', status: 'quota_exceeded', errorCode: 'CLAUDE_CONSOLE_QUOTA_EXCEEDED', reason: 'Daily quota exceeded: $2.50 / $1.00' },
    ]);
  });
});

describe('CCR quota', () => {
  it('checkQuotaUsage over the quota: QUOTA_EXCEEDED, account id as the name fallback; isQuotaExceeded sends none', async () => {
    await redis.hset('ccr_account:r1', { id: 'r1', dailyQuota: '2', lastResetDate: '2026-11-26', status: 'active' });
    await redis.hset('account_usage:daily:r1:2026-11-26', 'cost', '3');
    expect(await ccr.isQuotaExceeded('r1')).toBe(true);
    expect(sent).toEqual([]);
    expect(await ccr.checkQuotaUsage('r1')).toBe(true);
    expect(sent).toEqual([{ accountId: 'r1', accountName: 'r1', platform: 'ccr', status: 'quota_exceeded', errorCode: 'QUOTA_EXCEEDED', reason: 'Daily quota exceeded: $3.00 / $2.00', timestamp: new Date(NOW).toISOString() }]);
  });
});
