import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { hashApiKey } from '../crypto/api-key-hash.js';
import { PgStore } from '../pg/store.js';
import { frozenClock } from '../runtime/clock.js';
import { AccountRepository, accountStatus } from './accounts.js';
import { ApiKeyRepository, parseApiKey } from './api-keys.js';
import { AdminSessions, SessionBindings, StickySessions, UserSessions } from './sessions.js';

const LAB_KEY = 'lab-encryption-key-32chars-00000';
const log = pino({ level: 'silent' });
const T = Date.parse('2026-11-26T11:52:01.817Z');
const trace = (name: string, file: string) => JSON.parse(readFileSync(join(legacyTracesDir, name, file), 'utf8')) as Record<string, unknown>;
const before04 = trace('04-messages-nonstream-oauth-first', 'redis.before.json') as RedisSnapshot;
const rawKey04 = (trace('04-messages-nonstream-oauth-first', 'request.json') as { headers: Record<string, string> }).headers['x-api-key']!;
const OAUTH_KEY_ID = 'dbdd1f71-cc19-401d-acc7-1dff1865b3b6';
const OAUTH_ACCOUNT = '7ddd352c-bc47-4d4c-a73b-f5b5ccf5ec9f';
const CONSOLE_ACCOUNT = 'a02045ea-9d91-47f4-a198-5eeb3aa35e39';

/** The legacy's creation order of apikey fields (redis-keys.md §2.1), for loading the hash as it really is. */
const API_KEY_FIELD_ORDER = ['id', 'name', 'description', 'apiKey', 'tokenLimit', 'concurrencyLimit', 'rateLimitWindow', 'rateLimitRequests', 'rateLimitCost', 'isActive', 'claudeAccountId', 'claudeConsoleAccountId', 'geminiAccountId', 'openaiAccountId', 'azureOpenaiAccountId', 'bedrockAccountId', 'droidAccountId', 'permissions', 'enableModelRestriction', 'restrictedModels', 'enableClientRestriction', 'allowedClients', 'dailyCostLimit', 'totalCostLimit', 'weeklyOpusCostLimit', 'tags', 'activationDays', 'activationUnit', 'expirationMode', 'isActivated', 'activatedAt', 'createdAt', 'lastUsedAt', 'expiresAt', 'createdBy', 'userId', 'userUsername', 'icon'];

let server: PrivateRedis;
let redis: Redis;
let clock: ReturnType<typeof frozenClock>;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
});
afterAll(async () => server?.stop());

async function fresh(): Promise<void> {
  clock = frozenClock(T);
  const order = Object.fromEntries(Object.keys(before04).filter((k) => k.startsWith('apikey:') && k !== 'apikey:hash_map').map((k) => [k, API_KEY_FIELD_ORDER]));
  await loadRedisSnapshot(redis, before04, { hashFieldOrder: order });
}

describe('API-key repository', () => {
  it('finds the recorded key by sha256(raw + ENCRYPTION_KEY) and parses it like validateApiKey', async () => {
    await fresh();
    const repo = new ApiKeyRepository({ redis, clock, log });
    const found = await repo.findByHash(hashApiKey(rawKey04, LAB_KEY));
    expect(found?.id).toBe(OAUTH_KEY_ID);
    expect(Object.keys(found!)).toEqual(API_KEY_FIELD_ORDER);
    const p = parseApiKey(found!);
    expect(p).toMatchObject({ isActive: true, claudeAccountId: OAUTH_ACCOUNT, permissions: 'all', concurrencyLimit: 0, restrictedModels: [], tags: [], expirationMode: 'fixed' });
    expect(await repo.findByHash('0'.repeat(64))).toBeNull();
  });

  it('removes a stale hash_map entry whose hash is gone', async () => {
    await fresh();
    const repo = new ApiKeyRepository({ redis, clock, log });
    await redis.hset('apikey:hash_map', 'stale', 'no-such-id');
    expect(await repo.findByHash('stale')).toBeNull();
    expect(await redis.hexists('apikey:hash_map', 'stale')).toBe(0);
  });

  it('corrupted fields parse safely (bad JSON -> [], missing numbers -> 0 / NaN as the legacy)', () => {
    const p = parseApiKey({ id: 'x', restrictedModels: '[oops', allowedClients: '{"a":1}', concurrencyLimit: '', tokenLimit: '' });
    expect(p.restrictedModels).toEqual([]);
    expect(p.allowedClients).toEqual([]);
    expect(p.concurrencyLimit).toBe(0);
    expect(Number.isNaN(p.tokenLimit)).toBe(true);
    expect(p.activationDays).toBe(30);
  });

  it('wrong type under apikey:{id}: a clear WRONGTYPE error, nothing written', async () => {
    await redis.flushdb();
    await redis.hset('apikey:hash_map', 'h', 'k');
    await redis.set('apikey:k', 'oops');
    await expect(new ApiKeyRepository({ redis, clock, log }).findByHash('h')).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.get('apikey:k')).toBe('oops');
  });

  it('activation on first use writes isActivated, activatedAt, expiresAt, lastUsedAt in place and re-applies the TTL', async () => {
    await fresh();
    const repo = new ApiKeyRepository({ redis, clock, log });
    await redis.hset(`apikey:${OAUTH_KEY_ID}`, 'expirationMode', 'activation', 'isActivated', 'false', 'activationDays', '2', 'activationUnit', 'hours', 'expiresAt', '');
    await redis.expire(`apikey:${OAUTH_KEY_ID}`, 100);
    const rec = (await repo.findByHash(hashApiKey(rawKey04, LAB_KEY)))!;
    const updated = await repo.activateOnFirstUse(rec);
    const stored = await redis.hgetall(`apikey:${OAUTH_KEY_ID}`);
    expect(stored).toMatchObject({ isActivated: 'true', activatedAt: '2026-11-26T11:52:01.817Z', expiresAt: '2026-11-26T13:52:01.817Z', lastUsedAt: '2026-11-26T11:52:01.817Z' });
    expect(Object.keys(stored)).toEqual(API_KEY_FIELD_ORDER); // no field moved or added
    expect(await redis.ttl(`apikey:${OAUTH_KEY_ID}`)).toBe(31536000);
    expect(await repo.activateOnFirstUse(updated)).toBe(updated); // second use: no write
    clock.advance(2 * 3600_000 + 1);
    expect(repo.isExpired(updated)).toBe(true);
  });

  it('soft delete keeps the hash_map entry (later lookups say "disabled"), drops cost-rank membership', async () => {
    await fresh();
    const repo = new ApiKeyRepository({ redis, clock, log });
    await repo.softDelete(OAUTH_KEY_ID, 'admin', 'admin');
    const rec = await repo.findByHash(hashApiKey(rawKey04, LAB_KEY));
    expect(rec).toMatchObject({ isActive: 'false', isDeleted: 'true', deletedAt: '2026-11-26T11:52:01.817Z', deletedBy: 'admin', deletedByType: 'admin' });
    expect(Object.keys(rec!).slice(-4)).toEqual(['isDeleted', 'deletedAt', 'deletedBy', 'deletedByType']);
    expect(await redis.zscore('cost_rank:all', OAUTH_KEY_ID)).toBeNull();
    await expect(repo.softDelete('nope')).rejects.toThrow('API key not found');
  });
});

describe('PostgreSQL mirror and fallback', () => {
  let pg: PrivateSchema;
  beforeAll(async () => {
    pg = await privateSchema('gwdata');
  });
  afterAll(async () => pg?.drop());

  it('save() upserts {id, ...data}; a Redis miss falls back to PG by hash and by id', async () => {
    await fresh();
    const store = new PgStore(pg.sql, clock, log);
    expect(await store.ensureSchema()).toBe(true);
    const repo = new ApiKeyRepository({ redis, clock, log, pgStore: store });
    const rec = (await repo.findByHash(hashApiKey(rawKey04, LAB_KEY)))!;
    await repo.save(OAUTH_KEY_ID, rec);
    const [row] = await pg.sql<Array<{ hashed_key: string; data: Record<string, string>; created_at: Date; updated_at: Date }>>`select hashed_key, data, created_at, updated_at from api_keys`;
    expect(row!.hashed_key).toBe(rec.apiKey);
    expect(row!.data).toEqual(rec);
    expect(row!.created_at.toISOString()).toBe(rec.createdAt);
    expect(row!.updated_at.toISOString()).toBe(rec.createdAt); // no updatedAt: created_at (legacy toTimestamp)
    await redis.flushdb();
    expect((await repo.findByHash(rec.apiKey!))?.name).toBe(rec.name);
    expect((await repo.getById(OAUTH_KEY_ID))?.apiKey).toBe(rec.apiKey);
    // users: Redis first, then PG
    await store.upsertUser({ id: 'u1', username: 'alice', isActive: true, createdAt: '2026-11-26T00:00:00.000Z' });
    const users = new UserSessions(redis, clock, store);
    expect((await users.user('u1'))?.isActive).toBe(true);
    await redis.set('user:u1', JSON.stringify({ id: 'u1', isActive: false }));
    expect((await users.user('u1'))?.isActive).toBe(false);
  });

  it('a dead PostgreSQL never stalls: bounded timeout, logged, swallowed', async () => {
    const postgres = (await import('postgres')).default;
    const dead = postgres({ host: '127.0.0.1', port: 1, max: 1, connect_timeout: 30, onnotice: () => {} });
    const store = new PgStore(dead, clock, log, { timeoutMs: 300 });
    const t0 = Date.now();
    expect(await store.upsertApiKey('00000000-0000-4000-8000-000000000001', 'h', { createdAt: 'x' })).toBe(false);
    expect(await store.getApiKeyById('00000000-0000-4000-8000-000000000001')).toBeNull();
    expect(Date.now() - t0).toBeLessThan(2000);
    await dead.end({ timeout: 0 });
  });
});

describe('account repository', () => {
  it('reads every recorded account type it holds, lists console accounts, parses status', async () => {
    await fresh();
    const repo = new AccountRepository({ redis, clock });
    const oauth = await repo.get('claude', OAUTH_ACCOUNT);
    expect(oauth?.platform).toBe('claude');
    expect(accountStatus(oauth!)).toMatchObject({ isActive: true, schedulable: true, status: 'active', priority: 50 });
    const consoles = await repo.list('claude-console');
    expect(consoles.map((a) => a.id)).toEqual([CONSOLE_ACCOUNT]);
    expect(await repo.sharedIds('claude-console')).toEqual([CONSOLE_ACCOUNT]);
    expect(await repo.get('gemini', 'none')).toBeNull();
  });

  it('partial updates and lastUsedAt only touch the given fields; a deleted account is not recreated', async () => {
    await fresh();
    const repo = new AccountRepository({ redis, clock });
    const key = `claude_console_account:${CONSOLE_ACCOUNT}`;
    const before = await redis.hgetall(key);
    await repo.updateFields('claude-console', CONSOLE_ACCOUNT, { rateLimitStatus: 'limited', schedulable: false });
    expect(await repo.touchLastUsed('claude-console', CONSOLE_ACCOUNT)).toBe(true);
    const after = await redis.hgetall(key);
    expect(after).toEqual({ ...before, rateLimitStatus: 'limited', schedulable: 'false', lastUsedAt: '2026-11-26T11:52:01.817Z' });
    expect(Object.keys(after)).toEqual(Object.keys(before));
    expect(await repo.touchLastUsed('claude-console', 'deleted-id')).toBe(false);
    expect(await redis.exists('claude_console_account:deleted-id')).toBe(0);
  });

  it('bedrock accounts are JSON strings; corrupt JSON is skipped in listings', async () => {
    await redis.flushdb();
    const repo = new AccountRepository({ redis, clock });
    await repo.save('bedrock', 'b1', { id: 'b1', name: 'bed', isActive: true, priority: 50 });
    expect(await redis.get('bedrock_account:b1')).toBe('{"id":"b1","name":"bed","isActive":true,"priority":50}');
    await redis.set('bedrock_account:b2', '{corrupt');
    expect((await repo.list('bedrock')).map((a) => [a.id, a.isActive])).toEqual([['b1', 'true']]);
    expect(await repo.getBedrock('b2')).toBeNull();
  });
});

describe('sessions', () => {
  it('sticky mapping bytes and TTL as recorded (exchange 09), renewal only below the threshold', async () => {
    await redis.flushdb();
    const sticky = new StickySessions(redis);
    await sticky.set('claude', '8aef6dbe1e55c4fb80d31f7ca36e0b84', OAUTH_ACCOUNT, 'claude-official');
    const after09 = trace('09-messages-nonstream-pool', 'redis.after.json') as RedisSnapshot;
    const rec = after09['unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84']!;
    expect(await redis.get('unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(rec.value);
    expect(await redis.ttl('unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(rec.ttl);
    expect(await sticky.get('claude', '8aef6dbe1e55c4fb80d31f7ca36e0b84')).toEqual({ accountId: OAUTH_ACCOUNT, accountType: 'claude-official' });
    const renewing = new StickySessions(redis, { renewalThresholdMinutes: 90 });
    await redis.expire('unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84', 10);
    expect(await sticky.extend('claude', '8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(true);
    expect(await redis.ttl('unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(10);
    expect(await renewing.extend('claude', '8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(true);
    expect(await redis.ttl('unified_claude_session_mapping:8aef6dbe1e55c4fb80d31f7ca36e0b84')).toBe(3600);
    expect(await sticky.extend('claude', 'absent')).toBe(false);
    await redis.set('unified_claude_session_mapping:bad', '{not json');
    expect(await sticky.get('claude', 'bad')).toBeNull();
  });

  it('session bindings, admin sessions (touch: new lastActivity, TTL 86400) and user sessions', async () => {
    await redis.flushdb();
    clock = frozenClock(T);
    const bindings = new SessionBindings(redis, clock);
    await bindings.set('u-1', 'acc', 'claude-official');
    clock.advance(1000);
    await bindings.touch('u-1');
    expect(await redis.get('original_session_binding:u-1')).toBe(
      '{"accountId":"acc","accountType":"claude-official","createdAt":"2026-11-26T11:52:01.817Z","lastUsedAt":"2026-11-26T11:52:02.817Z"}',
    );
    expect(await redis.ttl('original_session_binding:u-1')).toBe(2592000);
    const admin = new AdminSessions(redis, clock);
    await admin.set('tok', { username: 'lab_admin', loginTime: 'L', lastActivity: 'L' }, 86400000);
    const s = (await admin.get('tok'))!;
    await admin.touch('tok', s);
    expect(await redis.hgetall('session:tok')).toEqual({ username: 'lab_admin', loginTime: 'L', lastActivity: '2026-11-26T11:52:02.817Z' });
    expect(await redis.ttl('session:tok')).toBe(86400);
    expect(await admin.get('missing')).toBeNull();
    const users = new UserSessions(redis, clock);
    await users.create('ut', 'user1');
    expect(await redis.ttl('user_session:ut')).toBe(86400);
    expect((await users.get('ut'))?.userId).toBe('user1');
  });
});
