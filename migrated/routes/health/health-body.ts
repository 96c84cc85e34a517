import { getHeapStatistics } from 'node:v8';
import type { Redis } from 'ioredis';
import type { Sql } from 'postgres';

/**
 * GET /health body (src/app.js initialize, checkRedisHealth / checkPostgresHealth /
 * checkLoggerHealth; responses-and-errors.md §7.2), keys in the legacy's order. Process-state
 * values (uptime, memory, latencies, stats) are measured here, not copied.
 */
export interface HealthProbes {
  redis: Redis;
  /** Redis probe (default: a PING per call); the module passes `sharedRedisHealth`. */
  redisProbe?: () => Promise<Record<string, unknown>>;
  pg: Sql | null;
  pgEnabled: boolean;
  version: string;
  nowIso: () => string;
  stats: () => { requests: number; errors: number; warnings: number };
}

const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)}MB`;

async function redisHealth(redis: Redis): Promise<Record<string, unknown>> {
  try {
    const start = performance.now();
    await redis.ping();
    return { status: 'healthy', connected: redis.status === 'ready', latency: `${Math.floor(performance.now() - start)}ms` };
  } catch (err) {
    return { status: 'unhealthy', connected: false, error: (err as Error).message };
  }
}

/**
 * One Redis PING shared by the health checks that arrive while it is in flight (single flight):
 * every answer still reflects a ping sent after the request arrived, without one round trip per
 * concurrent probe.
 */
export function sharedRedisHealth(redis: Redis): () => Promise<Record<string, unknown>> {
  let inFlight: Promise<Record<string, unknown>> | null = null;
  return () => {
    if (!inFlight) {
      inFlight = redisHealth(redis).finally(() => {
        inFlight = null;
      });
    }
    return inFlight;
  };
}

async function postgresHealth(pg: Sql | null, enabled: boolean): Promise<Record<string, unknown>> {
  if (!enabled) return { status: 'disabled' };
  if (!pg) return { status: 'unhealthy', error: 'PostgreSQL not connected' };
  try {
    const start = performance.now();
    await pg`SELECT 1`;
    return { status: 'healthy', latency: `${Math.floor(performance.now() - start)}ms` };
  } catch (err) {
    return { status: 'unhealthy', error: (err as Error).message };
  }
}

export async function healthBody(p: HealthProbes): Promise<Record<string, unknown>> {
  const [redis, logger] = await Promise.all([
    p.redisProbe ? p.redisProbe() : redisHealth(p.redis),
    Promise.resolve({ status: 'healthy', healthy: true, timestamp: p.nowIso() }),
  ]);
  const postgres = await postgresHealth(p.pg, p.pgEnabled);
  // heapUsed / heapTotal / external of process.memoryUsage(), without its RSS read (a /proc read per call)
  const heap = getHeapStatistics();
  const memory = { heapUsed: heap.used_heap_size, heapTotal: heap.total_heap_size, external: heap.external_memory };
  return {
    status: 'healthy',
    service: 'claude-relay-service',
    version: p.version,
    timestamp: p.nowIso(),
    uptime: process.uptime(),
    memory: { used: mb(memory.heapUsed), total: mb(memory.heapTotal), external: mb(memory.external) },
    components: { redis, postgres, logger },
    stats: p.stats(),
  };
}

/** APP_VERSION ‖ VERSION ‖ the legacy release this gateway mirrors (its VERSION file at b565610a). */
export function legacyVersion(env: NodeJS.ProcessEnv = process.env): string {
  return env.APP_VERSION || env.VERSION || '1.1.234';
}
