import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../../gateway/config/env.js';

/**
 * The gateway's one Redis connection factory (legacy: src/models/redis.js `connect`, same
 * REDIS_HOST/PORT/PASSWORD/DB/ENABLE_TLS variables).
 *
 * Differences from the legacy on purpose (see compat-tests/QUIRKS.md "not reproduced"):
 *  - reconnect with capped exponential backoff + jitter-free steps (50 ms doubling, max 2 s);
 *  - a command issued while Redis is away fails after at most `maxRetriesPerRequest`
 *    reconnect attempts (default 1) instead of queueing forever, and the offline queue is
 *    bounded by `commandTimeoutMs`, so a request gets a clear error quickly
 *    (`RedisUnavailableError`) that the route turns into the legacy's 500 shape.
 */

export interface RedisClientOptions {
  /** Fail a command after this many reconnect attempts while it waits (default 1). */
  maxRetriesPerRequest?: number;
  /** Per-command timeout in ms (default 2000). */
  commandTimeoutMs?: number;
  /** Connect timeout in ms (default 2000). */
  connectTimeoutMs?: number;
  /** Cap of the reconnect backoff in ms (default 2000). */
  maxBackoffMs?: number;
  /** Connect immediately (default true). */
  connectNow?: boolean;
  /** Connection name shown in CLIENT LIST. */
  connectionName?: string;
  log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** Thrown (wrapped) when Redis is not reachable within the bounds above. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** Reconnect delay: 50, 100, 200, ... ms capped at maxBackoffMs. */
export function backoffDelay(attempt: number, maxBackoffMs = 2000): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), maxBackoffMs);
}

export function redisOptionsFromConfig(
  config: Pick<GatewayConfig, 'REDIS_HOST' | 'REDIS_PORT' | 'REDIS_PASSWORD' | 'REDIS_DB' | 'REDIS_ENABLE_TLS'>,
  opts: RedisClientOptions = {},
): RedisOptions {
  const maxBackoff = opts.maxBackoffMs ?? 2000;
  const options: RedisOptions = {
    host: config.REDIS_HOST,
    port: config.REDIS_PORT,
    db: config.REDIS_DB,
    lazyConnect: true,
    maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 1,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    enableOfflineQueue: true,
    retryStrategy: (attempt: number) => backoffDelay(attempt, maxBackoff),
  };
  if (config.REDIS_PASSWORD) options.password = config.REDIS_PASSWORD;
  if (config.REDIS_ENABLE_TLS) options.tls = {};
  if (opts.connectionName) options.connectionName = opts.connectionName;
  return options;
}

/**
 * Create the client. Connection errors are logged (once per state change), never thrown
 * from the event emitter; commands reject with ioredis errors that `isRedisUnavailable`
 * recognises.
 */
export function createRedisClient(
  config: Pick<GatewayConfig, 'REDIS_HOST' | 'REDIS_PORT' | 'REDIS_PASSWORD' | 'REDIS_DB' | 'REDIS_ENABLE_TLS'>,
  opts: RedisClientOptions = {},
): Redis {
  const client = new Redis(redisOptionsFromConfig(config, opts));
  const log = opts.log;
  let up = false;
  client.on('ready', () => {
    up = true;
    log?.info({ host: config.REDIS_HOST, port: config.REDIS_PORT }, 'redis connected');
  });
  client.on('error', (err: Error) => {
    if (up) log?.error({ err: err.message }, 'redis connection error');
    up = false;
  });
  client.on('close', () => {
    if (up) log?.warn('redis connection closed');
    up = false;
  });
  if (opts.connectNow ?? true) client.connect().catch(() => {});
  return client;
}

/** True for errors that mean "Redis is not reachable" (as opposed to a command error). */
export function isRedisUnavailable(err: unknown): boolean {
  if (err instanceof RedisUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const m = err.message;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|Command timed out|Stream isn't writeable|connect ETIMEDOUT|EPIPE/.test(m)
  );
}

/** Run fn; convert connectivity failures into RedisUnavailableError with a clear message. */
export async function withRedis<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isRedisUnavailable(err)) throw new RedisUnavailableError(`Redis unavailable during ${what}: ${(err as Error).message}`, err);
    throw err;
  }
}
