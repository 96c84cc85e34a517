import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { CCR_ID, storeCcr } from '../relay-bedrock/provider-accounts.test-helper.js';
import createClaudeMessagesModule from '../relay-claude/messages-module.js';
import { KEYS } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import type { PgStore } from '../pg/store.js';
import { useRedisWithPg } from '../scheduler/console-quota.test-helper.js';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { CcrQuota } from './ccr-quota.js';

/**
 * CCR daily quota as ccrAccountService runs it: checkQuotaUsage (daily reset when lastResetDate
 * is not today, else stop at cost ≥ quota), isAccountQuotaExceeded (cost-based, marks once), the
 * plain-HMSET stop mark (no PostgreSQL write), and where /v1/messages runs them.
 */
// 2026-11-26 11:52:04 UTC = 19:52 at UTC+8 (zone date 2026-11-26)
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const AT_ISO = new Date(AT).toISOString();
const KEY = `ccr_account:${CCR_ID}`;
const DAILY = `account_usage:daily:${CCR_ID}:2026-11-26`;

describe('CcrQuota (ccrAccountService)', () => {
  const stores = useRedisWithPg('gwccrquota', frozenClock(AT, 8));
  let redis: Redis;
  let pgStore: PgStore;
  beforeAll(() => {
    ({ redis, pgStore } = stores);
  });
  const quota = (atMs = AT) => {
    const c = frozenClock(atMs, 8);
    return new CcrQuota({ redis, clock: c, accounts: new AccountRepository({ redis, clock: c, pgStore }) });
  };

  it('checkQuotaUsage, same day, cost at the quota: status/errorMessage/quotaStoppedAt by HMSET (isActive, schedulable untouched; PostgreSQL not written); again on every call', async () => {
    await storeCcr(redis, { dailyQuota: '5' });
    await pgStore.upsertAccount('ccr', CCR_ID, await redis.hgetall(KEY));
    await redis.hset(DAILY, 'cost', '5.004');
    expect(await quota().checkQuotaUsage(CCR_ID)).toBe(true);
    const after = await redis.hgetall(KEY);
    expect(after).toMatchObject({ status: 'quota_exceeded', errorMessage: 'Daily quota exceeded: $5.00 / $5.00', quotaStoppedAt: AT_ISO, isActive: 'true', schedulable: 'true' });
    expect(await pgStore.getAccount('ccr', CCR_ID)).toMatchObject({ status: 'active', quotaStoppedAt: '' });
    expect(await quota(AT + 60_000).checkQuotaUsage(CCR_ID)).toBe(true);
    expect(await redis.hget(KEY, 'quotaStoppedAt')).toBe(new Date(AT + 60_000).toISOString());
  });

  it('checkQuotaUsage on a new day: reset (dailyUsage 0, lastResetDate, quotaStoppedAt cleared), false even over the quota, status left as it was', async () => {
    await storeCcr(redis, { dailyQuota: '5', lastResetDate: '2026-11-25', dailyUsage: '7', status: 'quota_exceeded', quotaStoppedAt: '2026-11-25T10:00:00.000Z' });
    await redis.hset(DAILY, 'cost', '9');
    expect(await quota().checkQuotaUsage(CCR_ID)).toBe(false);
    expect(await redis.hgetall(KEY)).toMatchObject({ dailyUsage: '0', lastResetDate: '2026-11-26', quotaStoppedAt: '', status: 'quota_exceeded' });
  });

  it('checkQuotaUsage: below the quota or no quota: nothing written; a junk quota (NaN) still resets on a new day but never stops', async () => {
    for (const [fields, cost] of [
      [{ dailyQuota: '5' }, '4.99'],
      [{ dailyQuota: '0', lastResetDate: '2026-11-25' }, '100'],
      [{ dailyQuota: '', lastResetDate: '2026-11-25' }, '100'],
    ] as const) {
      await redis.flushdb();
      await storeCcr(redis, fields);
      await redis.hset(DAILY, 'cost', cost);
      const before = await redis.hgetall(KEY);
      expect(await quota().checkQuotaUsage(CCR_ID)).toBe(false);
      expect(await redis.hgetall(KEY)).toEqual(before);
    }
    await redis.flushdb();
    await storeCcr(redis, { dailyQuota: 'abc', lastResetDate: '2026-11-25' });
    await redis.hset(DAILY, 'cost', '100');
    expect(await quota().checkQuotaUsage(CCR_ID)).toBe(false);
    expect(await redis.hget(KEY, 'lastResetDate')).toBe('2026-11-26');
    expect(await quota().checkQuotaUsage(CCR_ID)).toBe(false);
    expect(await redis.hget(KEY, 'status')).toBe('active');
  });

  it('isAccountQuotaExceeded: from today\'s cost, not the mark; marks only when not marked yet; never resets', async () => {
    await storeCcr(redis, { dailyQuota: '2', lastResetDate: '2026-11-20' });
    expect(await quota().isQuotaExceeded(CCR_ID)).toBe(false);
    await redis.hset(DAILY, 'cost', '2.5');
    expect(await quota().isQuotaExceeded(CCR_ID)).toBe(true);
    expect(await redis.hgetall(KEY)).toMatchObject({ status: 'quota_exceeded', errorMessage: 'Daily quota exceeded: $2.50 / $2.00', quotaStoppedAt: AT_ISO, lastResetDate: '2026-11-20' });
    await redis.hset(KEY, 'status', 'active');
    expect(await quota(AT + 60_000).isQuotaExceeded(CCR_ID)).toBe(true);
    expect(await redis.hmget(KEY, 'status', 'quotaStoppedAt')).toEqual(['active', AT_ISO]);
    // next zone day: no cost yet → not exceeded, although quotaStoppedAt is still set
    expect(await quota(Date.parse('2026-11-26T16:00:00.000Z')).isQuotaExceeded(CCR_ID)).toBe(false);
  });

  it('reads the account like getAccount: PostgreSQL when the hash is gone', async () => {
    await storeCcr(redis, { dailyQuota: '1' });
    await pgStore.upsertAccount('ccr', CCR_ID, await redis.hgetall(KEY));
    await redis.del(KEY);
    await redis.hset(DAILY, 'cost', '3');
    expect(await quota().isQuotaExceeded(CCR_ID)).toBe(true);
  });
});

describe('CCR daily quota on /v1/messages', () => {
  const f = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT, seed: (redis) => storeCcr(redis, { dailyQuota: '1' }) });
  const headers: Array<[string, string]> = [
    ['Host', '127.0.0.1:3000'],
    ['x-api-key', KEYS.pool],
    ['content-type', 'application/json'],
  ];
  const post = (port: number, body: Record<string, unknown>) => send(port, 'POST', '/api/v1/messages', headers, JSON.stringify({ messages: [{ role: 'user', content: 'quota please' }], ...body }));
  const NO_ACCOUNT = { error: 'Relay service error', message: 'No available CCR accounts support the requested model: claude-sonnet-4-5' };
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('pool: an account at its quota is marked and skipped; the client gets the no-account 500 and nothing goes upstream', async () => {
    await f.redis.hset(DAILY, 'cost', '1.25');
    await f.withRelay(createClaudeMessagesModule, async (h) => {
      const seq = f.mark();
      const res = await post(h.port, { model: 'ccr,claude-sonnet-4-5' });
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toMatchObject(NO_ACCOUNT);
      expect(f.upstreamAfter(seq)).toHaveLength(0);
    });
    expect(await f.redis.hgetall(KEY)).toMatchObject({ status: 'quota_exceeded', errorMessage: 'Daily quota exceeded: $1.25 / $1.00', quotaStoppedAt: AT_ISO, isActive: 'true' });
  });

  it('sticky session: a new day resets the account, the cost check then stops it; the mapping is dropped and the pool finds nothing', async () => {
    await f.withRelay(createClaudeMessagesModule, async (h) => {
      expect((await post(h.port, { model: 'ccr,claude-sonnet-4-5' })).status).toBe(200);
      await settle();
      const mappings = await f.redis.keys('unified_claude_session_mapping:*');
      expect(await Promise.all(mappings.map((k) => f.redis.get(k)))).toContain(JSON.stringify({ accountId: CCR_ID, accountType: 'ccr' }));
      await f.redis.hset(KEY, { lastResetDate: '2026-11-25', dailyUsage: '3' });
      await f.redis.hset(DAILY, 'cost', '2');
      const seq = f.mark();
      const res = await post(h.port, { model: 'ccr,claude-sonnet-4-5' });
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toMatchObject(NO_ACCOUNT);
      expect(f.upstreamAfter(seq)).toHaveLength(0);
      for (const k of mappings) expect(await f.redis.get(k)).not.toBe(JSON.stringify({ accountId: CCR_ID, accountType: 'ccr' }));
    });
    expect(await f.redis.hgetall(KEY)).toMatchObject({ lastResetDate: '2026-11-26', dailyUsage: '0', status: 'quota_exceeded', errorMessage: 'Daily quota exceeded: $2.00 / $1.00', quotaStoppedAt: AT_ISO });
  });

  it('upstream 429 over the quota: non-stream checks the quota before the rate-limit mark (rate_limited wins), a stream after it (quota_exceeded wins); the 429 is passed through', async () => {
    // an upstream that spends the rest of the quota (as a concurrent request would) before it answers 429
    const upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        void f.redis.hset(DAILY, 'cost', '1.5').then(() => {
          res.writeHead(429, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } }));
        });
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const outcome: Record<string, Record<string, string>> = {};
    try {
      for (const stream of [false, true]) {
        await f.redis.hset(KEY, { status: 'active', errorMessage: '', quotaStoppedAt: '', rateLimitedAt: '', rateLimitStatus: '' });
        await f.redis.hset(DAILY, 'cost', '0.5'); // below the quota when scheduled
        await f.withRelay(
          createClaudeMessagesModule,
          async (h) => {
            const res = await post(h.port, { model: 'ccr,claude-sonnet-4-5', stream });
            expect(res.status).toBe(429);
            expect(JSON.parse(res.body.toString())).toMatchObject({ error: { type: 'rate_limit_error' } });
            for (let i = 0; i < 40 && (await f.redis.hget(KEY, 'status')) !== (stream ? 'quota_exceeded' : 'rate_limited'); i++) await settle();
          },
          { upstream: url },
        );
        outcome[stream ? 'stream' : 'nonStream'] = await f.redis.hgetall(KEY);
      }
    } finally {
      await new Promise((r) => upstream.close(r));
    }
    expect(outcome['nonStream']).toMatchObject({ status: 'rate_limited', errorMessage: 'Rate limited by upstream service', rateLimitedAt: AT_ISO, quotaStoppedAt: AT_ISO });
    expect(outcome['stream']).toMatchObject({ status: 'quota_exceeded', errorMessage: 'Daily quota exceeded: $1.50 / $1.00', rateLimitedAt: AT_ISO, quotaStoppedAt: AT_ISO });
  });
});
