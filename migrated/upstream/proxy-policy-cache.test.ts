import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { countRedisTraffic, type RedisTraffic } from '../relay-claude/redis-traffic.test-helper.js';
import { frozenClock, type FrozenClock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import { ProxyPolicyCache } from './proxy-policy-cache.js';
import { resolveEffectiveProxy, type ProxyLookup } from './proxy-policy.js';

/**
 * The legacy's caching of the proxy policy reads (proxyPolicyService.getConfig: 60 s;
 * accountGroupService._getGroupsSnapshot: 2 s), counted on the cache's own Redis client.
 */
let server: PrivateRedis;
/** The admin's client: writes the keys. */
let admin: Redis;
/** The relay's client: only the cache uses it, so its traffic is the cache's reads. */
let relay: Redis;
let traffic: RedisTraffic;
let clock: FrozenClock;
let cache: ProxyPolicyCache;

const proxy = (port: number) => ({ type: 'http', host: '127.0.0.1', port });
const lookup = (accountId = 'acc'): ProxyLookup => ({ accountId, platform: 'claude', accountProxy: '' });
const resolve = async (accountId = 'acc') => {
  const r = await resolveEffectiveProxy(cache, lookup(accountId));
  return r.source === 'none' ? 'none' : `${r.source}:${r.proxy?.port}`;
};
const setConfig = (cfg: unknown) => admin.set(keys.proxyPolicyConfig(), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
async function group(id: string, port: number, members: string[], fields: Record<string, string> = {}): Promise<void> {
  await admin.sadd(keys.accountGroups(), id);
  await admin.hset(keys.accountGroup(id), { id, name: id, platform: 'claude', proxy: JSON.stringify(proxy(port)), ...fields });
  if (members.length) await admin.sadd(keys.accountGroupMembers(id), ...members);
}
/** Commands the cache sent since the last call, upper-cased (the test's own PINGs left out). */
function sent(): string[] {
  const out = traffic.commands.map((c) => c.toUpperCase()).filter((c) => c !== 'PING');
  traffic.reset();
  return out;
}
/** Lets a background refresh started by the last call go out and come back (up to three round trips). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    await relay.ping();
  }
}

beforeAll(async () => {
  server = await startPrivateRedis();
  admin = server.client();
  relay = server.client();
  traffic = await countRedisTraffic(relay);
});
afterAll(async () => {
  traffic.stop();
  await server.stop();
});
beforeEach(async () => {
  await admin.flushdb();
  clock = frozenClock(Date.parse('2026-11-26T12:00:00.000Z'));
  cache = new ProxyPolicyCache(relay, clock);
  traffic.reset();
});

describe('proxy_policy_config: 60 s, whole config', () => {
  it('one GET per 60 s window; unused in its second half, an admin change applies at 60 s and not before', async () => {
    await setConfig({ globalAccountProxy: proxy(4001) });
    expect(await resolve()).toBe('global:4001');
    expect(sent()).toEqual(['SMEMBERS', 'GET']);
    await setConfig({ globalAccountProxy: proxy(4002), platformProxies: { claude: proxy(3001) } });
    clock.advance(29_999);
    expect(await resolve()).toBe('global:4001');
    expect(await resolve('other')).toBe('global:4001');
    await settle();
    expect(sent().filter((c) => c === 'GET')).toEqual([]);
    clock.advance(30_001);
    expect(await resolve()).toBe('platform:3001');
    expect(sent().filter((c) => c === 'GET')).toEqual(['GET']);
  });

  it('used in the second half of its 60 s, the config is read again once in the background; no call waits', async () => {
    await setConfig({ globalAccountProxy: proxy(4001) });
    expect(await resolve()).toBe('global:4001');
    sent();
    await setConfig({ globalAccountProxy: proxy(4002) });
    clock.advance(30_000);
    // answered from the cache (still fresh), nothing read in the call itself
    expect(await resolve()).toBe('global:4001');
    expect(await resolve('other')).toBe('global:4001');
    expect(sent().filter((c) => c === 'GET')).toEqual([]);
    await settle();
    expect(sent().filter((c) => c === 'GET')).toEqual(['GET']);
    expect(await resolve()).toBe('global:4002');
    // the refreshed value starts a new 60 s: its first half reads nothing
    clock.advance(29_999);
    expect(await resolve()).toBe('global:4002');
    await settle();
    expect(sent().filter((c) => c === 'GET')).toEqual([]);
  });

  it('an absent key is cached as the empty default', async () => {
    expect(await resolve()).toBe('none');
    await setConfig({ globalAccountProxy: proxy(4001) });
    clock.advance(29_000);
    expect(await resolve()).toBe('none');
    clock.advance(31_000);
    expect(await resolve()).toBe('global:4001');
    expect(sent().filter((c) => c === 'GET')).toEqual(['GET', 'GET']);
  });

  it('unparsable JSON or a failed read gives the default and is not cached', async () => {
    await setConfig('not json');
    expect(await resolve()).toBe('none');
    expect(await resolve()).toBe('none');
    await admin.del(keys.proxyPolicyConfig());
    await admin.sadd(keys.proxyPolicyConfig(), 'x'); // WRONGTYPE for GET
    expect(await resolve()).toBe('none');
    expect(sent().filter((c) => c === 'GET')).toEqual(['GET', 'GET', 'GET']);
    await admin.del(keys.proxyPolicyConfig());
    await setConfig({ globalAccountProxy: proxy(4001) });
    expect(await resolve()).toBe('global:4001'); // no TTL to wait: nothing was cached
  });

  it('merges the stored object over the defaults', async () => {
    await setConfig({ platformProxies: { claude: proxy(3001) }, updatedBy: 'admin', extra: 1 });
    expect(await cache.config()).toEqual({ globalAccountProxy: null, platformProxies: { claude: proxy(3001) }, updatedAt: null, updatedBy: 'admin', extra: 1 });
  });
});

describe('account-group snapshot: 2 s, all groups', () => {
  it('one snapshot read per 2 s for every account; unused in its second half, a membership change applies at 2 s and not before', async () => {
    await group('g1', 2001, ['acc']);
    await group('g2', 2002, ['b']);
    expect(await resolve()).toBe('group:2001');
    expect(sent()).toEqual(['SMEMBERS', 'HGETALL', 'SMEMBERS', 'HGETALL', 'SMEMBERS']);
    expect(await resolve('b')).toBe('group:2002');
    expect(sent()).toEqual([]);
    await admin.srem(keys.accountGroupMembers('g1'), 'acc');
    await admin.sadd(keys.accountGroupMembers('g2'), 'acc');
    await admin.hset(keys.accountGroup('g2'), 'proxyPriority', '1');
    clock.advance(999);
    expect(await resolve()).toBe('group:2001');
    await settle();
    expect(sent()).toEqual([]);
    clock.advance(1_001);
    expect(await resolve()).toBe('group:2002');
    expect(sent().filter((c) => c === 'SMEMBERS')).toHaveLength(3);
  });

  it('the common case (snapshot and config warm) sends nothing to Redis', async () => {
    await setConfig({ platformProxies: { claude: proxy(3001) } });
    await group('g-other', 2001, ['other']);
    expect(await resolve()).toBe('platform:3001');
    sent();
    clock.advance(900);
    expect(await resolve()).toBe('platform:3001');
    expect(await resolve('other')).toBe('group:2001');
    expect(traffic.writes).toBe(0);
  });

  it('used in the second half of its 2 s, the snapshot is read again once in the background; no call waits', async () => {
    await group('g1', 2001, ['acc']);
    expect(await resolve()).toBe('group:2001');
    expect(await resolve('b')).toBe('none');
    sent();
    await group('g2', 2002, ['acc'], { proxyPriority: '1' });
    clock.advance(1_000);
    expect(await resolve()).toBe('group:2001');
    expect(await resolve('b')).toBe('none');
    expect(sent()).toEqual([]);
    await settle();
    expect(sent()).toEqual(['SMEMBERS', 'HGETALL', 'SMEMBERS', 'HGETALL', 'SMEMBERS']);
    expect(await resolve()).toBe('group:2002');
    // a failed refresh keeps the snapshot until it expires; then the read is made in the call (and falls back)
    await admin.del(keys.accountGroups());
    await admin.set(keys.accountGroups(), 'wrong type');
    clock.advance(1_000);
    expect(await resolve()).toBe('group:2002');
    await settle();
    expect(sent().filter((c) => c === 'SMEMBERS')).toEqual(['SMEMBERS']);
    expect(await resolve()).toBe('group:2002');
    clock.advance(1_000);
    expect(await resolve()).toBe('none');
  });

  it('an empty account_groups is cached: a new group applies after 2 s', async () => {
    expect(await resolve()).toBe('none');
    await group('g1', 2001, ['acc']);
    clock.advance(999);
    expect(await resolve()).toBe('none');
    clock.advance(1_001);
    expect(await resolve()).toBe('group:2001');
    expect(sent().filter((c) => c === 'SMEMBERS')).toEqual(['SMEMBERS', 'SMEMBERS', 'SMEMBERS']);
  });

  it('a failed account_groups read falls back to the policy and is not cached', async () => {
    await admin.set(keys.accountGroups(), 'wrong type');
    await setConfig({ globalAccountProxy: proxy(4001) });
    expect(await resolve()).toBe('global:4001');
    expect(await resolve()).toBe('global:4001');
    expect(sent()).toEqual(['SMEMBERS', 'GET', 'SMEMBERS']);
    await admin.del(keys.accountGroups());
    await group('g1', 2001, ['acc']);
    expect(await resolve()).toBe('group:2001'); // no TTL to wait
  });

  it('an unreadable group inside the pipeline counts as empty and the snapshot is cached', async () => {
    await group('g1', 2001, ['acc'], { proxyPriority: '50' });
    await admin.sadd(keys.accountGroups(), 'g-broken');
    await admin.set(keys.accountGroup('g-broken'), 'not a hash');
    await admin.sadd(keys.accountGroupMembers('g-broken'), 'acc');
    expect(await resolve()).toBe('group:2001');
    await admin.del(keys.accountGroup('g-broken'));
    await group('g-broken', 2009, ['acc'], { proxyPriority: '1' });
    clock.advance(999);
    expect(await resolve()).toBe('group:2001');
    clock.advance(1_001);
    expect(await resolve()).toBe('group:2009');
  });

  it('the group id reported is the hash id field (the legacy group.id)', async () => {
    await admin.sadd(keys.accountGroups(), 'set-member');
    await admin.hset(keys.accountGroup('set-member'), { id: 'hash-id', platform: 'claude', proxy: JSON.stringify(proxy(2001)) });
    await admin.sadd(keys.accountGroupMembers('set-member'), 'acc');
    expect((await resolveEffectiveProxy(cache, lookup())).groupId).toBe('hash-id');
  });

  it('an account with a usable proxy of its own reads nothing', async () => {
    const r = await resolveEffectiveProxy(cache, { accountId: 'acc', platform: 'claude', accountProxy: JSON.stringify(proxy(1001)) });
    expect(r.source).toBe('account');
    expect(traffic.writes).toBe(0);
  });
});
