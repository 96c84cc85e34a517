import type { AuthRejection } from './types.js';

/** Every rejection body authenticateApiKey writes, key order as the legacy's (auth-and-keys.md §3). */

const reject = (status: number, body: Record<string, unknown>, headers: Array<[string, string]> = []): AuthRejection => ({
  ok: false,
  status,
  headers,
  body,
});

export const missingApiKey = () =>
  reject(401, {
    error: 'Missing API key',
    message: 'Please provide an API key in the x-api-key, x-goog-api-key, or Authorization header',
  });

export const invalidKeyFormat = () => reject(401, { error: 'Invalid API key format', message: 'API key format is invalid' });

export const invalidApiKey = (message: string) => reject(401, { error: 'Invalid API key', message });

/** `userAgent` is assigned `undefined` by the legacy and therefore absent from the JSON. */
export const clientNotAllowed = (allowedClients: unknown[]) =>
  reject(403, { error: 'Client not allowed', message: 'Your client is not authorized to use this API key', allowedClients });

export const claudeCodeOnly = () =>
  reject(403, { error: { type: 'client_validation_error', message: 'This endpoint only accepts requests from Claude Code CLI' } });

export const concurrencyExceeded = (limit: number, current: number) =>
  reject(
    429,
    {
      error: 'Concurrency limit exceeded',
      message: `Too many concurrent requests. Limit: ${limit} concurrent requests`,
      currentConcurrency: current,
      concurrencyLimit: limit,
    },
    [['Retry-After', '1']],
  );

export const queueOverloaded = (o: {
  limit: number;
  queueCount: number;
  maxQueueSize: number;
  estimatedWaitMs: number;
  timeoutMs: number;
  queueTimeoutMs: number;
}) =>
  reject(
    429,
    {
      error: 'Queue overloaded',
      message: `Queue is overloaded. Estimated wait time (${o.estimatedWaitMs}ms) exceeds threshold. Limit: ${o.limit} concurrent requests, queue: ${o.queueCount}/${o.maxQueueSize}. Please retry later.`,
      currentConcurrency: o.limit,
      concurrencyLimit: o.limit,
      queueCount: o.queueCount,
      maxQueueSize: o.maxQueueSize,
      estimatedWaitMs: o.estimatedWaitMs,
      timeoutMs: o.timeoutMs,
      queueTimeoutMs: o.queueTimeoutMs,
      retryAfterSeconds: 30,
    },
    [['Retry-After', '30']],
  );

export const queueFull = (o: { limit: number; queueCount: number; maxQueueSize: number; queueTimeoutMs: number }) => {
  const retryAfterSeconds = Math.ceil(o.queueTimeoutMs / 1000);
  return reject(
    429,
    {
      error: 'Concurrency queue full',
      message: `Too many requests waiting in queue. Limit: ${o.limit} concurrent requests, queue: ${o.queueCount}/${o.maxQueueSize}, timeout: ${retryAfterSeconds}s`,
      currentConcurrency: o.limit,
      concurrencyLimit: o.limit,
      queueCount: o.queueCount,
      maxQueueSize: o.maxQueueSize,
      queueTimeoutMs: o.queueTimeoutMs,
      retryAfterSeconds,
    },
    [['Retry-After', String(retryAfterSeconds)]],
  );
};

export const queueTimeout = (o: { limit: number; maxQueueSize: number; queueTimeoutMs: number; waitTimeMs: number }) => {
  const timeoutSeconds = Math.ceil(o.queueTimeoutMs / 1000);
  const retryAfterSeconds = Math.max(5, Math.min(30, Math.ceil(timeoutSeconds / 2)));
  return reject(
    429,
    {
      error: 'Queue timeout',
      message: `Request timed out waiting for concurrency slot. Limit: ${o.limit} concurrent requests, maxQueue: ${o.maxQueueSize}, Queue timeout: ${timeoutSeconds}s, waited: ${o.waitTimeMs}ms`,
      currentConcurrency: o.limit,
      concurrencyLimit: o.limit,
      maxQueueSize: o.maxQueueSize,
      queueTimeoutMs: o.queueTimeoutMs,
      waitTimeMs: o.waitTimeMs,
      retryAfterSeconds,
    },
    [['Retry-After', String(retryAfterSeconds)]],
  );
};

export const queueRedisFailure = () =>
  reject(503, { error: 'Service temporarily unavailable', message: 'Failed to acquire concurrency slot due to internal error' });

export const requestRateLimited = (o: { limit: number; current: number; resetAt: string; remainingMinutes: number }) =>
  reject(429, {
    error: 'Rate limit exceeded',
    message: `已达到请求次数限制 (${o.limit} 次)，将在 ${o.remainingMinutes} 分钟后重置`,
    currentRequests: o.current,
    requestLimit: o.limit,
    resetAt: o.resetAt,
    remainingMinutes: o.remainingMinutes,
  });

export const tokenRateLimited = (o: { limit: number; current: number; resetAt: string; remainingMinutes: number }) =>
  reject(429, {
    error: 'Rate limit exceeded',
    message: `已达到 Token 使用限制 (${o.limit} tokens)，将在 ${o.remainingMinutes} 分钟后重置`,
    currentTokens: o.current,
    tokenLimit: o.limit,
    resetAt: o.resetAt,
    remainingMinutes: o.remainingMinutes,
  });

export const costRateLimited = (o: { limit: number; current: number; resetAt: string; remainingMinutes: number }) =>
  reject(429, {
    error: 'Rate limit exceeded',
    message: `已达到费用限制 ($${o.limit})，将在 ${o.remainingMinutes} 分钟后重置`,
    currentCost: o.current,
    costLimit: o.limit,
    resetAt: o.resetAt,
    remainingMinutes: o.remainingMinutes,
  });

export const dailyCostExceeded = (o: { limit: number; current: number; resetAt: string }) =>
  reject(429, {
    error: 'Daily cost limit exceeded',
    message: `已达到每日费用限制 ($${o.limit})`,
    currentCost: o.current,
    costLimit: o.limit,
    resetAt: o.resetAt,
  });

export const totalCostExceeded = (o: { limit: number; current: number }) =>
  reject(429, {
    error: 'Total cost limit exceeded',
    message: `已达到总费用限制 ($${o.limit})`,
    currentCost: o.current,
    costLimit: o.limit,
  });

export const weeklyOpusExceeded = (o: { limit: number; current: number; resetAt: string }) =>
  reject(429, {
    error: 'Weekly Opus cost limit exceeded',
    message: `已达到 Opus 模型周费用限制 ($${o.limit})`,
    currentCost: o.current,
    costLimit: o.limit,
    resetAt: o.resetAt,
  });

export const authenticationError = () =>
  reject(500, { error: 'Authentication error', message: 'Internal server error during authentication' });
