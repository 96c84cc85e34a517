import type { Redis } from 'ioredis';
import { AccountCipher } from '../crypto/account-crypto.js';
import { LAB_ENV } from '../routes/shared/trace-replay.test-helper.js';
import { systemIds } from '../runtime/ids.js';

/** Ids the Bedrock / CCR tests add to the trace 07 state (the unbound pool key is trace 07's). */
export const POOL_KEY_ID = '816b7075-92e4-461d-bb9e-590ce5475d9c';
export const BEDROCK_ID = '5b0c1d7e-0000-4000-8000-00000000be01';
export const CCR_ID = 'c0c0c0c0-0000-4000-8000-0000000000cc';

export const labCipher = new AccountCipher(LAB_ENV.ENCRYPTION_KEY, systemIds());

export const LAB_AWS_CREDENTIALS = { accessKeyId: 'AKIALABTEST0001', secretAccessKey: 'lab-secret', sessionToken: 'lab-session' };

/** A Bedrock account the way bedrockAccountService.createAccount stores it (JSON string, credentials encrypted). */
export function bedrockAccount(extra: Record<string, unknown> = {}, credentials: Record<string, unknown> | null = LAB_AWS_CREDENTIALS): Record<string, unknown> {
  return {
    id: BEDROCK_ID,
    name: 'lab-bedrock',
    description: '',
    region: 'us-west-2',
    defaultModel: null,
    isActive: true,
    accountType: 'shared',
    priority: 50,
    schedulable: true,
    credentialType: 'default',
    subscriptionExpiresAt: null,
    createdAt: '2026-11-26T11:00:00.000Z',
    updatedAt: '2026-11-26T11:00:00.000Z',
    type: 'bedrock',
    ...(credentials ? { awsCredentials: labCipher.encryptBedrock(credentials) } : {}),
    ...extra,
  };
}

export async function storeBedrock(redis: Redis, account: Record<string, unknown> = bedrockAccount()): Promise<void> {
  await redis.set(`bedrock_account:${String(account['id'])}`, JSON.stringify(account));
}

/** A CCR account as ccrAccountService.createAccount stores it (hash, apiKey encrypted, models as a mapping). */
export async function storeCcr(redis: Redis, extra: Record<string, string> = {}, id = CCR_ID): Promise<void> {
  await redis.hset(`ccr_account:${id}`, {
    id,
    platform: 'ccr',
    name: 'lab-ccr',
    description: '',
    apiUrl: 'https://ccr.example.com/v1/messages/',
    apiKey: labCipher.encrypt('ccr', 'ccr-key-123'),
    priority: '50',
    supportedModels: JSON.stringify({ 'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929' }),
    userAgent: '',
    rateLimitDuration: '60',
    proxy: '',
    isActive: 'true',
    accountType: 'shared',
    subscriptionExpiresAt: '',
    createdAt: '2026-11-26T11:00:00.000Z',
    lastUsedAt: '',
    status: 'active',
    errorMessage: '',
    rateLimitedAt: '',
    rateLimitStatus: '',
    schedulable: 'true',
    dailyQuota: '0',
    dailyUsage: '0',
    lastResetDate: '2026-11-26',
    quotaResetTime: '00:00',
    quotaStoppedAt: '',
    ...extra,
  });
}

/** Header value by name from a raw `Name: value` list. */
export const headerOf = (res: { rawHeaders: string[] }, name: string): string | undefined =>
  res.rawHeaders.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}: `))?.slice(name.length + 2);
