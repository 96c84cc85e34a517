import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../compat-tests/mock-upstream/server.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { AccountCipher } from '../crypto/account-crypto.js';
import { frozenClock } from '../runtime/clock.js';
import { scriptedIds } from '../runtime/ids.js';
import { AccountRepository } from '../storage/accounts.js';
import { AgentPool } from '../upstream/agents.js';
import type { AnomalyInput, AnomalyNotifier } from '../notify/notifier.js';
import { AccessTokens, OAUTH_CLIENT_ID } from './access-token.js';

const KEY = 'lab-encryption-key-32chars-00000';
const NOW = Date.parse('2026-11-26T11:52:00.000Z');

let server: PrivateRedis;
let redis: Redis;
let mock: MockUpstream;
const agents = new AgentPool();
const ids = scriptedIds(9);
const cipher = new AccountCipher(KEY, ids);
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  mock = await startMockUpstream({ settings: { chunkDelayMs: 0, latencyMs: 0 } });
});
afterAll(async () => {
  agents.destroy();
  await mock.close();
  redis.disconnect();
  await server.stop();
});

async function seed(id: string, fields: Record<string, string>): Promise<void> {
  await redis.hset(`claude:account:${id}`, {
    id,
    name: 'acc',
    isActive: 'true',
    status: 'active',
    accessToken: cipher.encrypt('claude', 'old-access-token'),
    refreshToken: cipher.encrypt('claude', 'good-refresh-token'),
    expiresAt: String(NOW + 30_000), // inside the 60 s refresh window
    scopes: 'user:inference',
    ...fields,
  });
}

function tokens(lockWaitMs = 50, notify?: AnomalyNotifier) {
  const clock = frozenClock(NOW);
  return new AccessTokens({
    redis,
    clock,
    ids,
    log: pino({ level: 'silent' }),
    accounts: new AccountRepository({ redis, clock }),
    cipher,
    agents,
    upstreamOverride: mock.url,
    lockWaitMs,
    notify,
  });
}

beforeEach(async () => {
  await redis.flushdb();
});

describe('OAuth access tokens', () => {
  it('refreshes within 60 s of expiry against the token endpoint and stores the new tokens encrypted', async () => {
    await seed('a1', {});
    const since = mock.requests().at(-1)?.seq ?? 0;
    const token = await tokens().get('a1');
    expect(token).toMatch(/^sk-ant-oat01-MOCK-[0-9a-f]{32}$/);
    const calls = mock.requests().filter((r) => r.seq > since);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe('/v1/oauth/token');
    expect(JSON.parse(calls[0]!.bodyRaw)).toEqual({ grant_type: 'refresh_token', refresh_token: 'good-refresh-token', client_id: OAUTH_CLIENT_ID });
    expect(calls[0]!.rawHeaders.filter((_, i) => i % 2 === 0)).toEqual([
      'Accept', 'Content-Type', 'User-Agent', 'Accept-Language', 'Referer', 'Origin', 'Content-Length', 'Accept-Encoding', 'Host', 'Connection',
    ]);
    const stored = await redis.hgetall('claude:account:a1');
    expect(stored['accessToken']).toMatch(/^[0-9a-f]{32}:[0-9a-f]+$/);
    expect(cipher.decrypt('claude', stored['accessToken'])).toBe(token);
    expect(cipher.decrypt('claude', stored['refreshToken'])).toMatch(/^sk-ant-ort01-MOCK-/);
    expect(stored['expiresAt']).toBe(String(NOW + 28_800_000));
    expect(stored['lastRefreshAt']).toBe(new Date(NOW).toISOString());
    expect(stored['status']).toBe('active');
    expect(await redis.exists('token_refresh_lock:claude:a1')).toBe(0);
  });

  it('another holder of the refresh lock: waits, then uses the stored token without calling upstream', async () => {
    await seed('a2', {});
    await redis.set('token_refresh_lock:claude:a2', 'someone-else', 'EX', 60);
    const since = mock.requests().at(-1)?.seq ?? 0;
    expect(await tokens().get('a2')).toBe('old-access-token');
    expect(mock.requests().filter((r) => r.seq > since)).toHaveLength(0);
    expect(await redis.get('token_refresh_lock:claude:a2')).toBe('someone-else');
  });

  it('a failed refresh marks the account error, notifies CLAUDE_OAUTH_ERROR like the legacy, and falls back to the stored token', async () => {
    await seed('a3', { refreshToken: cipher.encrypt('claude', 'invalid-refresh-token') });
    const sent: AnomalyInput[] = [];
    expect(await tokens(50, { accountAnomaly: (n) => void sent.push(n), notify: () => undefined, idle: async () => {} }).get('a3')).toBe('old-access-token');
    expect(sent).toEqual([
      { accountId: 'a3', accountName: 'acc', platform: 'claude-oauth', status: 'error', errorCode: 'CLAUDE_OAUTH_ERROR', reason: 'Token refresh failed: Request failed with status code 400' },
    ]);
    const stored = await redis.hgetall('claude:account:a3');
    expect(stored['status']).toBe('error');
    expect(stored['errorMessage']).toBe('Request failed with status code 400');
    expect(await redis.exists('token_refresh_lock:claude:a3')).toBe(0);
  });

  it('a valid token: lastUsedAt and the session window are written, no refresh', async () => {
    await seed('a4', { expiresAt: String(NOW + 3_600_000) });
    expect(await tokens().get('a4')).toBe('old-access-token');
    const stored = await redis.hgetall('claude:account:a4');
    expect(stored['lastUsedAt']).toBe(new Date(NOW).toISOString());
    expect(stored['lastRequestTime']).toBe(new Date(NOW).toISOString());
    expect(stored['sessionWindowEnd']).toBeDefined();
    await expect(tokens().get('missing')).rejects.toThrow('Account not found');
  });
});
