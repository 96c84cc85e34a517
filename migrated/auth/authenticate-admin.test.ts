import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { keys } from '../storage/keys.js';
import { authenticateAdmin } from './authenticate-admin.js';
import { fakeRequest, testDeps, suiteRedis } from './auth-test-kit.test-helper.js';

const redisOf = suiteRedis();
let redis: Redis;
beforeEach(() => {
  redis = redisOf();
});

const TOKEN = 'a'.repeat(64);
const body = (r: Awaited<ReturnType<typeof authenticateAdmin>>) => (r.ok ? null : { status: r.status, body: r.body });

describe('authenticateAdmin (auth-and-keys.md §5.3)', () => {
  it('missing / malformed / unknown tokens', async () => {
    const deps = testDeps(redis);
    expect(body(await authenticateAdmin(deps, fakeRequest('/admin/api-keys')))).toEqual({
      status: 401,
      body: { error: 'Missing admin token', message: 'Please provide an admin token' },
    });
    expect(body(await authenticateAdmin(deps, fakeRequest('/admin/api-keys', { authorization: 'Bearer short' })))).toEqual({
      status: 401,
      body: { error: 'Invalid admin token format', message: 'Admin token format is invalid' },
    });
    expect(body(await authenticateAdmin(deps, fakeRequest('/admin/api-keys', { 'x-admin-token': TOKEN })))).toEqual({
      status: 401,
      body: { error: 'Invalid admin token', message: 'Invalid or expired admin session' },
    });
  });

  it('valid session: identity, lastActivity refreshed and TTL reset to 86400', async () => {
    const deps = testDeps(redis);
    await redis.hset(keys.adminSession(TOKEN), 'username', 'lab_admin', 'loginTime', '2026-11-26T03:00:00.000Z', 'lastActivity', '2026-11-26T03:30:00.000Z');
    await redis.expire(keys.adminSession(TOKEN), 86_400_000);
    const r = await authenticateAdmin(deps, fakeRequest('/admin/api-keys', { authorization: `Bearer ${TOKEN}` }));
    expect(r.ok && r.admin).toEqual({ id: 'admin', username: 'lab_admin', sessionId: TOKEN, loginTime: '2026-11-26T03:00:00.000Z' });
    for (let i = 0; i < 50 && (await redis.ttl(keys.adminSession(TOKEN))) > 86_400; i++) await new Promise((res) => setTimeout(res, 10));
    expect(await redis.ttl(keys.adminSession(TOKEN))).toBe(86_400);
    expect(await redis.hget(keys.adminSession(TOKEN), 'lastActivity')).toBe(new Date(deps.clock.now()).toISOString());
  });

  it('inactive for more than 24 h: session deleted, 401 Session expired', async () => {
    const deps = testDeps(redis);
    await redis.hset(keys.adminSession(TOKEN), 'username', 'lab_admin', 'loginTime', '2026-11-20T00:00:00.000Z', 'lastActivity', '2026-11-25T03:59:59.000Z');
    expect(body(await authenticateAdmin(deps, fakeRequest('/admin/api-keys', { 'x-admin-token': TOKEN })))).toEqual({
      status: 401,
      body: { error: 'Session expired', message: 'Admin session has expired due to inactivity' },
    });
    expect(await redis.exists(keys.adminSession(TOKEN))).toBe(0);
  });

  it('accepted deviation: a username-less hash (what the legacy refresh bypass creates) is not a session', async () => {
    const deps = testDeps(redis);
    await redis.hset(keys.adminSession(TOKEN), 'lastActivity', new Date(deps.clock.now()).toISOString());
    expect(body(await authenticateAdmin(deps, fakeRequest('/admin/api-keys', { 'x-admin-token': TOKEN })))?.status).toBe(401);
  });
});
