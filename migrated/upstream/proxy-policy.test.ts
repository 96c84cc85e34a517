import { createServer, type Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { keys } from '../storage/keys.js';
import { AgentPool } from './agents.js';
import { readBody, sendUpstream } from './client.js';
import { startConnectProxy, type CountingProxy } from './proxy-policy.test-helper.js';
import { accountProxyWithEnvFallback, globalEnvProxy, isUsableProxy, normalizePlatform, resolveEffectiveProxy, resolveEffectiveProxyNow } from './proxy-policy.js';
import { loadConfig } from '../../gateway/config/env.js';
import { frozenClock, systemClock } from '../runtime/clock.js';
import { ProxyPolicyCache } from './proxy-policy-cache.js';

let server: PrivateRedis;
let redis: Redis;
let target: Server;
let targetPort: number;
const proxies: CountingProxy[] = [];

const listen = (s: Server | NetServer): Promise<number> =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

async function connectProxy(): Promise<CountingProxy> {
  const entry = await startConnectProxy();
  proxies.push(entry);
  return entry;
}

/** POST `{}` to the local target through `proxy`; the answer text. */
async function postVia(proxy: Parameters<typeof sendUpstream>[1]['proxy'], path: string): Promise<string> {
  const pool = new AgentPool();
  try {
    const { response } = await sendUpstream(pool, { url: new URL(`http://127.0.0.1:${targetPort}${path}`), method: 'POST', headers: ['host', 'api.anthropic.com', 'content-length', '2'], body: Buffer.from('{}'), proxy, timeoutMs: 5000 });
    return (await readBody(response)).toString();
  } finally {
    pool.destroy();
  }
}

/** A new cache per resolution: these tests change the keys between calls (caching: proxy-policy-cache.test.ts). */
const fresh = () => new ProxyPolicyCache(redis, systemClock(8));

const proxyJson = (port: number, type = 'http') => JSON.stringify({ type, host: '127.0.0.1', port });

async function group(id: string, fields: Record<string, string>, members: string[]): Promise<void> {
  await redis.sadd(keys.accountGroups(), id);
  await redis.hset(keys.accountGroup(id), { id, name: id, platform: 'claude', ...fields });
  if (members.length) await redis.sadd(keys.accountGroupMembers(id), ...members);
}

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  target = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.url}`));
  });
  targetPort = await listen(target);
});
afterAll(async () => {
  for (const s of [target, ...proxies.map((p) => p.server)]) await new Promise((r) => s.close(r));
  await server.stop();
});
beforeEach(async () => {
  await redis.flushdb();
});

describe('proxy policy resolution (legacy resolveEffectiveProxyConfig)', () => {
  it('normalizes platforms and checks proxies like the legacy', () => {
    expect(normalizePlatform('claude-console')).toBe('claude');
    expect(normalizePlatform('Claude')).toBe('claude');
    expect(normalizePlatform('azure-openai')).toBe('openai');
    expect(normalizePlatform('openai-responses')).toBe('openai');
    expect(normalizePlatform('gemini-api')).toBe('gemini');
    expect(normalizePlatform('CCR')).toBe('ccr');
    expect(normalizePlatform('')).toBeNull();
    expect(isUsableProxy(proxyJson(8080))).toBe(true);
    expect(isUsableProxy({ type: 'socks5', host: 'h', port: '1080' })).toBe(true);
    expect(isUsableProxy(proxyJson(8080, 'socks5h'))).toBe(false);
    expect(isUsableProxy(proxyJson(70000))).toBe(false);
    expect(isUsableProxy('{"type":"http","host":"h"}')).toBe(false);
    expect(isUsableProxy('not json')).toBe(false);
  });

  it('prefers the account proxy over group, platform and global proxies', async () => {
    await group('g1', { proxy: proxyJson(2001) }, ['acc']);
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ globalAccountProxy: { type: 'http', host: '127.0.0.1', port: 4001 } }));
    const r = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: proxyJson(1001) });
    expect(r).toEqual({ proxy: { type: 'http', host: '127.0.0.1', port: 1001 }, source: 'account', platform: 'claude' });
  });

  it('falls through an unusable account proxy to the best group proxy (priority, then updatedAt, then createdAt)', async () => {
    await group('low-prio', { proxy: proxyJson(2001), proxyPriority: '200', updatedAt: '2026-01-05T00:00:00Z' }, ['acc']);
    await group('old', { proxy: proxyJson(2002), proxyPriority: '10', updatedAt: '2026-01-01T00:00:00Z' }, ['acc']);
    await group('new', { proxy: proxyJson(2003), proxyPriority: '10', updatedAt: '2026-01-02T00:00:00Z' }, ['acc']);
    await group('best-not-member', { proxy: proxyJson(2004), proxyPriority: '1' }, ['other']);
    await group('best-other-platform', { proxy: proxyJson(2005), proxyPriority: '1', platform: 'gemini' }, ['acc']);
    await group('best-bad-proxy', { proxy: proxyJson(2006, 'socks5h'), proxyPriority: '1' }, ['acc']);
    const r = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude-console', accountProxy: proxyJson(1001, 'ftp') });
    expect(r).toEqual({ proxy: { type: 'http', host: '127.0.0.1', port: 2003 }, source: 'group', platform: 'claude', groupId: 'new' });
  });

  it('uses a missing or non-numeric proxyPriority as 100 and breaks updatedAt ties by createdAt', async () => {
    await group('p150', { proxy: proxyJson(2001), proxyPriority: '150' }, ['acc']);
    await group('c-old', { proxy: proxyJson(2002), proxyPriority: 'x', createdAt: '2026-01-01T00:00:00Z' }, ['acc']);
    await group('c-new', { proxy: proxyJson(2003), createdAt: '2026-02-01T00:00:00Z' }, ['acc']);
    const r = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: '' });
    expect(r.groupId).toBe('c-new');
  });

  it('then the platform proxy, then the global proxy, then direct', async () => {
    const cfg = {
      globalAccountProxy: { type: 'http', host: '127.0.0.1', port: 4001 },
      platformProxies: { claude: { type: 'socks5', host: '127.0.0.1', port: 3001, username: 'u', password: 'p' }, gemini: { type: 'http', host: '127.0.0.1', port: 3002 } },
      updatedAt: null,
      updatedBy: null,
    };
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify(cfg));
    await group('g-empty', { proxy: '' }, ['acc']);
    expect(await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: undefined })).toEqual({
      proxy: { type: 'socks5', host: '127.0.0.1', port: 3001, username: 'u', password: 'p' },
      source: 'platform',
      platform: 'claude',
    });
    expect((await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'bedrock', accountProxy: undefined })).source).toBe('global');
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ ...cfg, platformProxies: { claude: { type: 'http', host: '127.0.0.1' } } }));
    expect((await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: undefined })).source).toBe('global');
    await redis.set(keys.proxyPolicyConfig(), 'not json');
    expect(await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: undefined })).toEqual({ proxy: null, source: 'none', platform: 'claude' });
    await redis.del(keys.proxyPolicyConfig());
    expect((await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: undefined })).source).toBe('none');
  });

  it('without waiting: the same answer at every level while the caches are fresh, null when one needs a read', async () => {
    const clock = frozenClock(Date.UTC(2026, 10, 26));
    const policy = new ProxyPolicyCache(redis, clock);
    const lookup = (accountId: string, accountProxy: unknown = '') => ({ accountId, platform: 'claude-console', accountProxy });
    await group('g1', { proxy: proxyJson(2001) }, ['in-group']);
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ platformProxies: { claude: { type: 'http', host: '127.0.0.1', port: 3001 } } }));
    // the account's own proxy needs no cache
    expect(resolveEffectiveProxyNow(policy, lookup('x', proxyJson(1001)))).toEqual(await resolveEffectiveProxy(policy, lookup('x', proxyJson(1001))));
    // nothing read yet: null, and nothing is read by asking
    expect(resolveEffectiveProxyNow(policy, lookup('in-group'))).toBeNull();
    expect(policy.freshGroups()).toBeNull();
    for (const id of ['in-group', 'not-in-group']) {
      const waited = await resolveEffectiveProxy(policy, lookup(id));
      expect(resolveEffectiveProxyNow(policy, lookup(id))).toEqual(waited);
    }
    expect(resolveEffectiveProxyNow(policy, lookup('in-group'))!.source).toBe('group');
    expect(resolveEffectiveProxyNow(policy, lookup('not-in-group'))!.source).toBe('platform');
    // the group snapshot expires after 2 s, the config after 60 s: then null until a read refreshes it
    clock.advance(2000);
    expect(resolveEffectiveProxyNow(policy, lookup('not-in-group'))).toBeNull();
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({}));
    await resolveEffectiveProxy(policy, lookup('not-in-group'));
    expect(resolveEffectiveProxyNow(policy, lookup('not-in-group'))!.source).toBe('platform'); // config still cached
    clock.advance(60_000);
    await policy.groups();
    expect(resolveEffectiveProxyNow(policy, lookup('not-in-group'))).toBeNull();
    expect((await resolveEffectiveProxy(policy, lookup('not-in-group'))).source).toBe('none');
  });

  it('falls back to platform/global when the group keys cannot be read', async () => {
    await redis.set(keys.accountGroups(), 'wrong type');
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ globalAccountProxy: { type: 'http', host: '127.0.0.1', port: 4001 } }));
    const r = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: null });
    expect(r.source).toBe('global');
  });

  it('the resolved group proxy carries the request (not the global one)', async () => {
    const groupProxy = await connectProxy();
    const globalProxy = await connectProxy();
    await group('g1', { proxy: proxyJson(groupProxy.port) }, ['acc']);
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ globalAccountProxy: JSON.parse(proxyJson(globalProxy.port)) }));
    const { proxy } = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: '' });
    expect(await postVia(proxy, '/via-group')).toBe('ok /via-group');
    expect([groupProxy.connects, globalProxy.connects]).toEqual([1, 0]);
  });

  it('GLOBAL_PROXY_* (createProxyAgentWithFallback): parsed like getGlobalProxyConfig + createProxyAgent, from the valibot config', () => {
    const env = (e: Record<string, string>) => globalEnvProxy(loadConfig(e as NodeJS.ProcessEnv));
    expect(env({})).toBeNull();
    expect(env({ GLOBAL_PROXY_TYPE: 'HTTP', GLOBAL_PROXY_HOST: 'p.example', GLOBAL_PROXY_PORT: '3128x' })).toEqual({ type: 'http', host: 'p.example', port: 3128 });
    expect(env({ GLOBAL_PROXY_TYPE: 'socks5', GLOBAL_PROXY_HOST: 'p', GLOBAL_PROXY_PORT: '1080', GLOBAL_PROXY_USERNAME: 'u', GLOBAL_PROXY_PASSWORD: 'pw' })).toEqual({ type: 'socks5', host: 'p', port: 1080, username: 'u', password: 'pw' });
    // credentials only as a pair; missing / non-numeric / zero port, unknown type, missing host: no fallback
    expect(env({ GLOBAL_PROXY_TYPE: 'https', GLOBAL_PROXY_HOST: 'p', GLOBAL_PROXY_PORT: '1', GLOBAL_PROXY_USERNAME: 'u' })).toEqual({ type: 'https', host: 'p', port: 1 });
    for (const bad of [{ GLOBAL_PROXY_PORT: 'abc' }, { GLOBAL_PROXY_PORT: '0' }, { GLOBAL_PROXY_TYPE: 'socks4' }, { GLOBAL_PROXY_HOST: '' }, { GLOBAL_PROXY_PORT: '' }]) {
      expect(env({ GLOBAL_PROXY_TYPE: 'http', GLOBAL_PROXY_HOST: 'p', GLOBAL_PROXY_PORT: '8080', ...bad })).toBeNull();
    }
  });

  it('the env fallback applies only when no account, group or policy proxy does, and carries the request', async () => {
    const envProxy = await connectProxy();
    const fallback = globalEnvProxy({ GLOBAL_PROXY_TYPE: 'http', GLOBAL_PROXY_HOST: '127.0.0.1', GLOBAL_PROXY_PORT: String(envProxy.port) });
    expect((await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: proxyJson(5001), envFallback: fallback })).source).toBe('account');
    await redis.set(keys.proxyPolicyConfig(), JSON.stringify({ globalAccountProxy: { type: 'http', host: '127.0.0.1', port: 4001 } }));
    expect((await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: null, envFallback: fallback })).source).toBe('global');
    await redis.del(keys.proxyPolicyConfig());
    const r = await resolveEffectiveProxy(fresh(), { accountId: 'acc', platform: 'claude', accountProxy: '{"type":"ftp"}', envFallback: fallback });
    expect(r).toEqual({ proxy: fallback, source: 'env', platform: 'claude' });
    expect(await postVia(r.proxy, '/via-env')).toBe('ok /via-env');
    expect(envProxy.connects).toBe(1);
  });

  it('createProxyAgentWithFallback on a stored account proxy (CCR): a stored value is the proxy, valid or not; only none falls back to GLOBAL_PROXY_*', () => {
    const env = { type: 'http' as const, host: 'env.proxy', port: 3128 };
    expect(accountProxyWithEnvFallback(proxyJson(5001), env)).toEqual({ type: 'http', host: '127.0.0.1', port: 5001 });
    for (const none of ['', undefined, null, 'null']) expect(accountProxyWithEnvFallback(none, env)).toBe(env);
    for (const unusable of ['{"type":"ftp","host":"h","port":1}', '{}', 'not json']) expect(accountProxyWithEnvFallback(unusable, env)).toBeNull();
    expect(accountProxyWithEnvFallback('', null)).toBeNull();
  });
});
