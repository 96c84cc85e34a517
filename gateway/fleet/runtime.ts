import cluster from 'node:cluster';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import * as v from 'valibot';
import { systemClock, type Clock } from '../../migrated/runtime/clock.js';
import { createRedisClient } from '../../migrated/storage/redis-client.js';
import { ConfigError, type GatewayConfig } from '../config/env.js';
import { fleetAdminExtension } from './admin.js';
import { readPublished, tableToApply, type PublishedTable } from './published-table.js';
import { readTableCache, writeTableCache } from './table-cache.js';
import { defaultInstanceId, startFleetSync, type FleetStatus, type FleetSync, type TableApplier } from './sync.js';

/**
 * The fleet hook of a gateway process (gateway/main.ts): with ROUTING_SOURCE=redis the instance follows the
 * table published in Redis (`npm run routes -- publish`) instead of watching its file.
 *
 *   const fleet = fleetFromEnv(process.env, config, log);             // null unless ROUTING_SOURCE=redis
 *   const gateway = await createGateway({ config, ...(await fleet?.gatewayOptions()) });
 *   await fleet?.start(gateway);
 *
 * Start-up: the published table (if Redis answers and one exists) is the gateway's first table, so the data
 * port never serves the file's table in between; otherwise the file's table serves until Redis answers.
 */

export const FleetEnvSchema = v.object({
  /** `file` (default): the table file, hot-reloaded. `redis`: the table published for the fleet. */
  ROUTING_SOURCE: v.optional(v.picklist(['file', 'redis'], 'must be "file" or "redis"'), 'file'),
  /** Name in the fleet view (default host:pid). */
  FLEET_INSTANCE_ID: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._:@-]{1,100}$/, 'must be 1-100 of A-Z a-z 0-9 . _ : @ -'))),
  /** Revision poll + heartbeat period (the pub/sub message usually arrives first). */
  FLEET_POLL_MS: v.optional(v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(50, 'must be >= 50')), '1000'),
  /** Local copy of the last applied published table, used when Redis is unreachable at start-up
   *  (default: `<ROUTING_TABLE>.fleet-cache.json`; each worker of a cluster writes the same content). */
  FLEET_CACHE_FILE: v.optional(v.pipe(v.string(), v.minLength(1))),
  /** An instance without a heartbeat for this long is shown as silent. */
  FLEET_SILENT_AFTER_MS: v.optional(v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(100, 'must be >= 100')), '5000'),
});
export type FleetEnv = v.InferOutput<typeof FleetEnvSchema>;

export function loadFleetEnv(env: NodeJS.ProcessEnv): FleetEnv {
  const input: Record<string, string> = {};
  for (const key of Object.keys(FleetEnvSchema.entries)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const r = v.safeParse(FleetEnvSchema, input);
  if (r.success) return r.output;
  const issue = r.issues[0]!;
  const name = issue.path?.map((p) => String(p.key)).join('.') ?? '(environment)';
  throw new ConfigError(`invalid configuration: ${name}=${JSON.stringify(input[name] ?? '')}: ${issue.message}`);
}

export interface FleetRuntime {
  readonly instanceId: string;
  /** Options to spread into createGateway: the admin extension, the published table, no file watching. */
  gatewayOptions(): Promise<{ adminExtensions: Array<ReturnType<typeof fleetAdminExtension>>; table?: unknown; watch: false }>;
  start(gateway: TableApplier): Promise<void>;
  refresh(): Promise<void>;
  status(): FleetStatus | null;
  close(): Promise<void>;
}

type RedisConfig = Pick<GatewayConfig, 'REDIS_HOST' | 'REDIS_PORT' | 'REDIS_PASSWORD' | 'REDIS_DB' | 'REDIS_ENABLE_TLS' | 'ROUTING_TABLE'>;

export function createFleetRuntime(
  config: RedisConfig,
  fleetEnv: FleetEnv,
  opts: { log?: Logger | undefined; clock?: Clock | undefined } = {},
): FleetRuntime {
  const log = opts.log;
  const clock = opts.clock ?? systemClock(8);
  // Under GATEWAY_WORKERS each node:cluster worker follows the table on its own: one instance per worker.
  const worker = cluster.isWorker && cluster.worker ? `/w${cluster.worker.id}` : '';
  const instanceId = `${fleetEnv.FLEET_INSTANCE_ID ?? defaultInstanceId()}${fleetEnv.FLEET_INSTANCE_ID ? worker : ''}`;
  const cacheFile = fleetEnv.FLEET_CACHE_FILE ?? `${config.ROUTING_TABLE}.fleet-cache.json`;
  const redis: Redis = createRedisClient(config, { commandTimeoutMs: 1000, maxBackoffMs: 1000, connectionName: `gateway-fleet:${instanceId}` });
  let subscriber: Redis | null = null;
  let sync: FleetSync | null = null;
  /** The document the gateway starts with (Redis, else the local copy). */
  let initial: PublishedTable | undefined;

  const admin = fleetAdminExtension({
    status: () => sync?.status() ?? null,
    refresh: async () => sync?.refresh(),
    redis,
    now: () => clock.now(),
    silentAfterMs: fleetEnv.FLEET_SILENT_AFTER_MS,
  });

  return {
    instanceId,
    async gatewayOptions() {
      let table: unknown;
      try {
        const doc = await readPublished(redis);
        if (doc) {
          table = tableToApply(doc);
          initial = doc;
          await writeTableCache(cacheFile, doc).catch((e: unknown) => log?.warn({ file: cacheFile, err: (e as Error).message }, 'fleet: could not keep a local copy of the table'));
        }
      } catch (err) {
        const cached = await readTableCache(cacheFile).catch((e: unknown) => {
          log?.error({ file: cacheFile, err: (e as Error).message }, 'fleet: local copy of the table unreadable');
          return null;
        });
        if (cached) {
          table = tableToApply(cached);
          initial = cached;
          log?.warn({ err: (err as Error).message, revision: cached.revision, file: cacheFile }, 'fleet: Redis unreachable at start-up; serving the last applied table (local copy) until it answers');
        } else {
          log?.warn({ err: (err as Error).message }, 'fleet: Redis unreachable at start-up and no local copy; serving the table file until it answers');
        }
      }
      return table === undefined ? { adminExtensions: [admin], watch: false } : { adminExtensions: [admin], table, watch: false };
    },
    async start(gateway) {
      subscriber = createRedisClient(config, { maxBackoffMs: 1000, connectionName: `gateway-fleet-sub:${instanceId}` });
      sync = await startFleetSync({
        redis,
        subscriber,
        applier: gateway,
        clock,
        instanceId,
        pollMs: fleetEnv.FLEET_POLL_MS,
        log,
        initial,
        onApplied: (doc) => writeTableCache(cacheFile, doc),
      });
    },
    refresh: async () => sync?.refresh(),
    status: () => sync?.status() ?? null,
    async close() {
      await sync?.close();
      subscriber?.disconnect();
      redis.disconnect();
    },
  };
}

/** null unless ROUTING_SOURCE=redis. */
export function fleetFromEnv(env: NodeJS.ProcessEnv, config: RedisConfig, log?: Logger): FleetRuntime | null {
  const fleetEnv = loadFleetEnv(env);
  if (fleetEnv.ROUTING_SOURCE !== 'redis') return null;
  return createFleetRuntime(config, fleetEnv, { log });
}
