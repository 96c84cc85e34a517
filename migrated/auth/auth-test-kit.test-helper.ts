import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../gateway/config/env.js';
import { hashApiKey } from '../crypto/api-key-hash.js';
import { frozenClock, type FrozenClock } from '../runtime/clock.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { scriptedIds } from '../runtime/ids.js';
import { keys } from '../storage/keys.js';

/** Test kit: API keys written the way the legacy's generateApiKey stores them, and fake requests. */
export const ENCRYPTION_KEY = 'lab-encryption-key-32chars-00000';

export function testDeps(redis: Redis, atMs = Date.parse('2026-11-26T04:00:00.000Z')): MigratedDeps & { clock: FrozenClock } {
  return {
    config: loadConfig({ ENCRYPTION_KEY, LOG_LEVEL: 'silent' } as unknown as NodeJS.ProcessEnv),
    redis,
    pg: null,
    clock: frozenClock(atMs, 8),
    ids: scriptedIds(3),
    log: pino({ level: 'silent' }),
  };
}

let counter = 0;

/** Store a key (legacy field order, 365 d TTL, hash_map entry); returns the raw key and id. */
export async function storeKey(redis: Redis, fields: Record<string, string> = {}): Promise<{ raw: string; id: string }> {
  counter++;
  const raw = `cr_${counter.toString(16).padStart(64, 'a')}`;
  const id = `00000000-0000-4000-8000-${counter.toString().padStart(12, '0')}`;
  const hash = hashApiKey(raw, ENCRYPTION_KEY);
  const record: Record<string, string> = {
    id,
    name: `key-${counter}`,
    description: '',
    apiKey: hash,
    tokenLimit: '0',
    concurrencyLimit: '0',
    rateLimitWindow: '0',
    rateLimitRequests: '0',
    rateLimitCost: '0',
    isActive: 'true',
    claudeAccountId: '',
    claudeConsoleAccountId: '',
    geminiAccountId: '',
    openaiAccountId: '',
    azureOpenaiAccountId: '',
    bedrockAccountId: '',
    droidAccountId: '',
    permissions: 'all',
    enableModelRestriction: 'false',
    restrictedModels: '[]',
    enableClientRestriction: 'false',
    allowedClients: '[]',
    dailyCostLimit: '0',
    totalCostLimit: '0',
    weeklyOpusCostLimit: '0',
    tags: '[]',
    activationDays: '0',
    activationUnit: 'days',
    expirationMode: 'fixed',
    isActivated: 'true',
    activatedAt: '2026-11-01T00:00:00.000Z',
    createdAt: '2026-11-01T00:00:00.000Z',
    lastUsedAt: '',
    expiresAt: '',
    createdBy: 'admin',
    userId: '',
    userUsername: '',
    icon: '',
    ...fields,
  };
  await redis.hset(keys.apiKey(id), ...Object.entries(record).flat());
  await redis.expire(keys.apiKey(id), 31_536_000);
  await redis.hset(keys.apiKeyHashMap(), hash, id);
  return { raw, id };
}

/** A minimal request: headers, url and a live socket stand-in. */
export function fakeRequest(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { url, method: 'GET', headers: { ...headers }, socket: { destroyed: false } } as unknown as IncomingMessage;
}

/** One private redis-server for the calling suite, flushed before each test. */
export function suiteRedis(opts: { flushEachTest?: boolean } = {}): () => Redis {
  let server: PrivateRedis | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = server.client();
  });
  afterAll(async () => {
    await server?.stop();
  });
  if (opts.flushEachTest ?? true) {
    beforeEach(async () => {
      await redis!.flushdb();
    });
  }
  return () => redis!;
}
