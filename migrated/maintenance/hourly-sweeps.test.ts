import { describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { ApiKeyRepository } from '../storage/api-keys.js';
import { recoverTempErrorAccounts, resetErrorAccounts } from './claude-error-accounts.js';
import { disableExpiredKeys } from './expired-keys.js';
import { startMaintenance } from './index.js';
import { recordingLog, sweepFixture } from './sweep-fixture.test-helper.js';
import { applyMissingTtls } from './missing-ttls.js';

/** The legacy's hourly sweeps (src/app.js startCleanupTasks) on a real Redis and PostgreSQL: what they change, what they leave. */
const NOW = Date.parse('2026-11-27T06:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const HOUR = 3_600_000;
const clock = frozenClock(NOW, 8);
const { lines: logged, log } = recordingLog();
const f = sweepFixture('gwmaint', clock, logged);
const pgLog = { warn: () => undefined } as unknown as Pick<Logger, 'warn'>;

const keyRepo = (withPg = true) => new ApiKeyRepository({ redis: f.redis, clock, log: pgLog, pgStore: withPg ? f.store : null });
const accountRepo = () => new AccountRepository({ redis: f.redis, clock, pgStore: f.store });
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

async function apiKey(n: number, fields: Record<string, string>): Promise<string> {
  const id = uuid(n);
  await f.redis.hset(`apikey:${id}`, { id, name: `key-${n}`, apiKey: `hash-${n}`, isActive: 'true', ...fields });
  await f.redis.hset('apikey:hash_map', `hash-${n}`, id);
  return id;
}

describe('expired keys (apiKeyService.cleanupExpiredKeys)', () => {
  it('deactivates active keys whose expiresAt has passed, as updateApiKey does; leaves the rest', async () => {
    const expired = await apiKey(1, { expiresAt: iso(NOW - 1000), updatedAt: '2026-01-01T00:00:00.000Z', createdAt: '2026-01-01T00:00:00.000Z' });
    const live = await apiKey(2, { expiresAt: iso(NOW + HOUR) });
    const never = await apiKey(3, { expiresAt: '' });
    const alreadyOff = await apiKey(4, { expiresAt: iso(NOW - HOUR), isActive: 'false', updatedAt: 'old' });
    const garbage = await apiKey(5, { expiresAt: 'not a date' });
    expect(await disableExpiredKeys(keyRepo(), NOW, log)).toBe(1);
    // field order kept, isActive in place, updatedAt refreshed in place
    expect(Object.entries(await f.redis.hgetall(`apikey:${expired}`))).toEqual([
      ['id', expired],
      ['name', 'key-1'],
      ['apiKey', 'hash-1'],
      ['isActive', 'false'],
      ['expiresAt', iso(NOW - 1000)],
      ['updatedAt', iso(NOW)],
      ['createdAt', '2026-01-01T00:00:00.000Z'],
    ]);
    expect(await f.redis.ttl(`apikey:${expired}`)).toBe(365 * 86_400);
    expect(await f.redis.hget('apikey:hash_map', 'hash-1')).toBe(expired);
    for (const id of [live, never, garbage]) expect(await f.redis.hget(`apikey:${id}`, 'isActive')).toBe('true');
    expect(await f.redis.hget(`apikey:${alreadyOff}`, 'updatedAt')).toBe('old');
    // mirrored to PostgreSQL like every setApiKey
    const [row] = await f.pg.sql<Array<{ hashed_key: string; data: Record<string, unknown> }>>`select hashed_key, data from api_keys where id = ${expired}`;
    expect(row?.hashed_key.trimEnd()).toBe('hash-1'); // char(64)
    expect(row?.data['isActive']).toBe('false');
    expect(logged.filter((l) => l.level === 'info').map((l) => l.obj)).toEqual([{ keyId: expired, name: 'key-1' }]);
  });

  it('lists keys as getAllApiKeys: PostgreSQL ids, the hash map, both prefixes; PostgreSQL rows for keys gone from Redis', async () => {
    const onlyPg = uuid(7);
    await f.pg.sql`insert into api_keys (id, hashed_key, data) values (${onlyPg}, 'hash-7', ${f.pg.sql.json({ id: onlyPg, name: 'pg-only', apiKey: 'hash-7', isActive: 'true', expiresAt: iso(NOW - HOUR) })})`;
    const inMap = await apiKey(8, { expiresAt: iso(NOW - HOUR) });
    await f.redis.hset(`apikey:${uuid(9)}`, { name: 'not in the map', isActive: 'true', expiresAt: iso(NOW - HOUR) });
    await f.redis.hset(`api_key:${uuid(10)}`, { name: 'old prefix only', isActive: 'true', expiresAt: iso(NOW - HOUR) });
    const listed = await keyRepo().listAll();
    expect(listed.map((k) => k.id).sort()).toEqual([onlyPg, inMap, uuid(9)].sort());
    expect(listed.find((k) => k.id === onlyPg)?.name).toBe('pg-only');
    expect((await keyRepo(false).listAll()).map((k) => k.id).sort()).toEqual([inMap, uuid(9)].sort());

    expect(await disableExpiredKeys(keyRepo(), NOW, log)).toBe(3);
    // the PostgreSQL-only key is written back to Redis, deactivated (getApiKey's fallback, then setApiKey)
    expect(await f.redis.hgetall(`apikey:${onlyPg}`)).toMatchObject({ name: 'pg-only', isActive: 'false', updatedAt: iso(NOW) });
    expect(await f.redis.hget('apikey:hash_map', 'hash-7')).toBe(onlyPg);
    expect(await f.redis.hget(`apikey:${uuid(9)}`, 'isActive')).toBe('false');
    // an old-prefix key that has no apikey: hash nor row is not listed, so not touched
    expect(await f.redis.hget(`api_key:${uuid(10)}`, 'isActive')).toBe('true');
  });
});

describe('error accounts (claudeAccountService.cleanupErrorAccounts / cleanupTempErrorAccounts)', () => {
  const official = (id: string, fields: Record<string, string>) => f.redis.hset(`claude:account:${id}`, { id, name: id, isActive: 'true', schedulable: 'true', ...fields });

  it('error for over 24 h since lastRefreshAt → created with an empty errorMessage, saved whole and mirrored', async () => {
    await official('old-error', { status: 'error', errorMessage: 'token revoked', lastRefreshAt: iso(NOW - 25 * HOUR) });
    await official('new-error', { status: 'error', errorMessage: 'x', lastRefreshAt: iso(NOW - 23 * HOUR) });
    await official('no-refresh', { status: 'error', errorMessage: 'x' });
    await official('fine', { status: 'active', lastRefreshAt: iso(NOW - 48 * HOUR) });
    expect(await resetErrorAccounts(accountRepo(), NOW, log)).toBe(1);
    expect(Object.entries(await f.redis.hgetall('claude:account:old-error'))).toEqual([
      ['id', 'old-error'],
      ['name', 'old-error'],
      ['isActive', 'true'],
      ['schedulable', 'true'],
      ['status', 'created'],
      ['errorMessage', ''],
      ['lastRefreshAt', iso(NOW - 25 * HOUR)],
    ]);
    expect(await f.redis.hget('claude:account:new-error', 'status')).toBe('error');
    expect(await f.redis.hget('claude:account:no-refresh', 'status')).toBe('error');
    const [row] = await f.pg.sql<Array<{ data: Record<string, unknown> }>>`select data from accounts where type = 'claude' and id = 'old-error'`;
    expect(row?.data).toMatchObject({ id: 'old-error', status: 'created', errorMessage: '' });
  });

  it('temp_error for over 5 min → active; auto-stopped scheduling restored; the error fields and the 5xx counter removed', async () => {
    await official('stopped', { status: 'temp_error', schedulable: 'false', tempErrorAutoStopped: 'true', errorMessage: '500s', tempErrorAt: iso(NOW - 6 * 60_000) });
    await official('manual-off', { status: 'temp_error', schedulable: 'false', errorMessage: '500s', tempErrorAt: iso(NOW - 6 * 60_000) });
    await official('recent', { status: 'temp_error', tempErrorAt: iso(NOW - 4 * 60_000), errorMessage: 'x' });
    for (const id of ['stopped', 'manual-off', 'recent']) await f.redis.set(`claude_account:${id}:5xx_errors`, '3');
    expect(await recoverTempErrorAccounts(accountRepo(), f.redis, NOW, log)).toBe(2);
    expect(await f.redis.hgetall('claude:account:stopped')).toEqual({ id: 'stopped', name: 'stopped', isActive: 'true', schedulable: 'true', status: 'active' });
    expect(await f.redis.hgetall('claude:account:manual-off')).toEqual({ id: 'manual-off', name: 'manual-off', isActive: 'true', schedulable: 'false', status: 'active' });
    expect(await f.redis.hget('claude:account:recent', 'status')).toBe('temp_error');
    expect(await f.redis.exists('claude_account:stopped:5xx_errors', 'claude_account:manual-off:5xx_errors')).toBe(0);
    expect(await f.redis.exists('claude_account:recent:5xx_errors')).toBe(1);
    const [row] = await f.pg.sql<Array<{ data: Record<string, unknown> }>>`select data from accounts where type = 'claude' and id = 'stopped'`;
    expect(row?.data).toEqual({ id: 'stopped', name: 'stopped', isActive: 'true', schedulable: 'true', status: 'active' });
  });
});

describe('missing TTLs (f.redis.cleanup)', () => {
  it('gives the five families a TTL where they have none (oauth 600 s, the rest a day); leaves TTLs and other keys', async () => {
    await f.redis.hset('usage:daily:k1:2026-11-27', 'requests', '1');
    await f.redis.set('ratelimit:acc', '1');
    await f.redis.hset('session:admin_credentials', 'username', 'admin');
    await f.redis.set('sticky_session:abc', 'acc');
    await f.redis.hset('oauth:s1', 'state', 'x');
    await f.redis.set('session:with-ttl', '1', 'EX', 50);
    await f.redis.set('usage:total:k1', '1');
    await f.redis.set('oauth_session:s2', '1');
    expect(await applyMissingTtls(f.redis, log)).toBe(5);
    for (const k of ['usage:daily:k1:2026-11-27', 'ratelimit:acc', 'session:admin_credentials', 'sticky_session:abc']) expect(await f.redis.ttl(k)).toBe(86_400);
    expect(await f.redis.ttl('oauth:s1')).toBe(600);
    expect(await f.redis.ttl('session:with-ttl')).toBeLessThanOrEqual(50);
    expect(await f.redis.ttl('usage:total:k1')).toBe(-1);
    expect(await f.redis.ttl('oauth_session:s2')).toBe(-1);
  });
});

describe('the hourly pass', () => {
  it('runs the three sweeps and the TTL repair; the timer fires at its own period; stop() ends it', async () => {
    await apiKey(1, { expiresAt: iso(NOW - 1000) });
    await f.redis.hset('claude:account:a', { id: 'a', status: 'temp_error', tempErrorAt: iso(NOW - HOUR) });
    await f.redis.set('sticky_session:s', 'a');
    const m = startMaintenance({ redis: () => f.redis, pg: () => f.pg.sql, clock, log, intervalMs: 3_600_000, hourlyIntervalMs: 40 });
    try {
      const deadline = Date.now() + 3000;
      while ((await f.redis.ttl('sticky_session:s')) === -1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(await f.redis.hget(`apikey:${uuid(1)}`, 'isActive')).toBe('false');
      expect(await f.redis.hget('claude:account:a', 'status')).toBe('active');
      expect(await f.redis.ttl('sticky_session:s')).toBe(86_400);
      expect(logged.find((l) => l.msg === 'scheduled cleanup completed')?.obj).toEqual({ expiredKeys: 1, errorAccounts: 0, tempErrorAccounts: 1, ttlsSet: 1 });
    } finally {
      m.stop();
    }
    await f.redis.set('sticky_session:t', 'a');
    await new Promise((r) => setTimeout(r, 150));
    expect(await f.redis.ttl('sticky_session:t')).toBe(-1);
  });
});
