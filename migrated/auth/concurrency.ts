import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { IdSource } from '../runtime/ids.js';
import type { LeaseStore } from './lease-store.js';
import * as r from './rejections.js';
import type { RelayConfig } from './relay-config.js';
import type { AuthAbandoned, AuthRejection } from './types.js';

/**
 * Step 6 of authenticateApiKey (auth-and-keys.md §3.4, concurrency-locks-queues.md §2–§4):
 * take a lease; over the limit → 429 or the queue. On success the caller gets a `release`
 * that is idempotent and also fires on the response's close/finish — every exit path releases
 * (the legacy leaks on some; see DEVIATIONS.md) — and a renewal timer that keeps the lease alive
 * for up to CONCURRENCY_MAX_LIFETIME_MINUTES.
 */

export const LEASE_SECONDS = 300;
const RENEW_MS = 30_000;
const POLL = { initialMs: 200, maxMs: 2000, factor: 1.5, jitter: 0.2, maxRedisFails: 5 };

export interface LeaseHandle {
  release(): Promise<void>;
  /** `Connection: close` when the request waited in the queue. */
  headers: Array<[string, string]>;
}

export interface ConcurrencyDeps {
  leases: LeaseStore;
  ids: IdSource;
  log: Pick<Logger, 'warn' | 'error'>;
  relayConfig: () => Promise<RelayConfig>;
  /** CONCURRENCY_MAX_LIFETIME_MINUTES (default 10). */
  maxLifetimeMinutes: number;
  sleep?: (ms: number) => Promise<void>;
  /** Monotonic milliseconds for wait durations (default performance.now). */
  monotonic?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function p90(samples: number[]): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(0.9 * sorted.length) - 1] ?? null;
}

/** Make a lease handle: idempotent release, renewal timer, released on res close/finish. */
function holdLease(deps: ConcurrencyDeps, keyId: string, requestId: string, res: ServerResponse | undefined, headers: Array<[string, string]>): LeaseHandle {
  let released = false;
  let timer: NodeJS.Timeout | null = null;
  const release = async () => {
    if (released) return;
    released = true;
    if (timer) clearInterval(timer);
    timer = null;
    try {
      await deps.leases.release(keyId, requestId);
    } catch (err) {
      deps.log.error({ err, keyId }, 'failed to release concurrency lease');
    }
  };
  const maxRefresh = Math.ceil((deps.maxLifetimeMinutes * 60_000) / RENEW_MS);
  let refreshes = 0;
  timer = setInterval(() => {
    refreshes++;
    if (refreshes > maxRefresh) {
      void release();
      return;
    }
    deps.leases.refresh(keyId, requestId, LEASE_SECONDS).catch(() => undefined);
  }, RENEW_MS);
  timer.unref();
  if (res) {
    const onEnd = () => void release();
    res.once('close', onEnd);
    res.once('finish', onEnd);
    res.once('error', onEnd);
  }
  return { release, headers };
}

export async function acquireConcurrency(
  deps: ConcurrencyDeps,
  keyId: string,
  limit: number,
  req: IncomingMessage,
  res: ServerResponse | undefined,
): Promise<{ lease: LeaseHandle } | { rejection: AuthRejection } | { abandoned: AuthAbandoned }> {
  const requestId = deps.ids.uuid();
  const count = await deps.leases.acquire(keyId, requestId, LEASE_SECONDS);
  if (count <= limit) return { lease: holdLease(deps, keyId, requestId, res, []) };

  try {
    await deps.leases.release(keyId, requestId);
  } catch (err) {
    deps.log.error({ err, keyId }, 'failed to release lease after limit exceeded');
  }
  const config = await deps.relayConfig();
  if (!config.concurrentRequestQueueEnabled) return { rejection: r.concurrencyExceeded(limit, count - 1) };

  const timeoutMs = Number(config.concurrentRequestQueueTimeoutMs);
  const maxQueueSize = Math.max(limit * Number(config.concurrentRequestQueueMaxSizeMultiplier), Number(config.concurrentRequestQueueMaxSize));

  // Health check: fail fast when the queue is loaded and P90 wait is near the timeout.
  if (config.concurrentRequestQueueHealthCheckEnabled) {
    try {
      const queued = await deps.leases.queueCount(keyId).catch(() => 0);
      if (queued > 0 && queued > Math.ceil(maxQueueSize * 0.5)) {
        const samples = await deps.leases.waitTimes(keyId);
        const p = samples.length >= 10 ? p90(samples) : null;
        const threshold = Number(config.concurrentRequestQueueHealthThreshold) || 0.8;
        if (p !== null && p >= timeoutMs * threshold) {
          void deps.leases.queueStat(keyId, 'rejected_overload');
          return {
            rejection: r.queueOverloaded({ limit, queueCount: queued, maxQueueSize, estimatedWaitMs: p, timeoutMs, queueTimeoutMs: timeoutMs }),
          };
        }
      }
    } catch (err) {
      deps.log.warn({ err, keyId }, 'queue health check failed');
    }
  }

  const position = await deps.leases.queueIncr(keyId, timeoutMs);
  if (position > maxQueueSize) {
    await deps.leases.queueDecr(keyId);
    return { rejection: r.queueFull({ limit, queueCount: position - 1, maxQueueSize, queueTimeoutMs: timeoutMs }) };
  }
  void deps.leases.queueStat(keyId, 'entered');
  const headers: Array<[string, string]> = [];
  if (res && !res.headersSent) headers.push(['Connection', 'close']);
  const socket = req.socket;

  const sleep = deps.sleep ?? defaultSleep;
  const mono = deps.monotonic ?? (() => performance.now());
  const maxFails = Number(config.concurrentRequestQueueMaxRedisFailCount) || POLL.maxRedisFails;
  const started = mono();
  let interval = POLL.initialMs;
  let fails = 0;
  let outcome: 'acquired' | 'timeout' | 'cancelled' | 'redis_error' = 'timeout';
  let waited = 0;
  try {
    while (mono() - started < timeoutMs) {
      if (socket?.destroyed) {
        outcome = 'cancelled';
        break;
      }
      try {
        const c = await deps.leases.acquire(keyId, requestId, LEASE_SECONDS);
        fails = 0;
        if (c <= limit) {
          outcome = 'acquired';
          break;
        }
        await deps.leases.release(keyId, requestId).catch(() => undefined);
      } catch (err) {
        fails++;
        deps.log.error({ err, keyId }, 'redis error while queued');
        if (fails >= maxFails) {
          outcome = 'redis_error';
          break;
        }
      }
      await sleep(interval);
      const next = interval * POLL.factor;
      interval = Math.max(1, Math.min(next + next * POLL.jitter * (deps.ids.random() * 2 - 1), POLL.maxMs));
    }
    waited = Math.round(mono() - started);
  } finally {
    await deps.leases.queueDecr(keyId).catch(() => undefined);
  }

  if (outcome === 'cancelled') {
    void deps.leases.queueStat(keyId, 'cancelled');
    return { abandoned: { ok: false, abandoned: true } };
  }
  // the `Connection: close` set on entering the queue stays on whatever is answered afterwards
  const withQueueHeaders = (rej: AuthRejection): AuthRejection => ({ ...rej, headers: [...headers, ...rej.headers] });
  if (outcome === 'redis_error') return { rejection: withQueueHeaders(r.queueRedisFailure()) };
  if (outcome === 'timeout') {
    void deps.leases.queueStat(keyId, 'timeout');
    return { rejection: withQueueHeaders(r.queueTimeout({ limit, maxQueueSize, queueTimeoutMs: timeoutMs, waitTimeMs: waited })) };
  }
  void deps.leases.recordWaitTime(keyId, waited).catch(() => undefined);
  void deps.leases.queueStat(keyId, 'success');
  if ((res && (res.destroyed || res.writableEnded)) || socket?.destroyed) {
    await deps.leases.release(keyId, requestId).catch(() => undefined);
    return { abandoned: { ok: false, abandoned: true } };
  }
  if (req.socket !== socket) {
    await deps.leases.release(keyId, requestId).catch(() => undefined);
    void deps.leases.queueStat(keyId, 'socket_changed');
    return { abandoned: { ok: false, abandoned: true } };
  }
  return { lease: holdLease(deps, keyId, requestId, res, headers) };
}
