import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import postgres from 'postgres';
import type { GatewayConfig } from '../config/env.js';
import { writeJsonError } from '../../legacy-bridge/error-response.js';
import type { MigratedModule, MigratedModuleFactory } from '../../migrated/module.js';
import { loadModuleFactory } from '../../migrated/registry.js';
import { systemClock } from '../../migrated/runtime/clock.js';
import type { MigratedDeps } from '../../migrated/runtime/deps.js';
import { systemIds } from '../../migrated/runtime/ids.js';
import { AccountNameIndex } from '../../migrated/storage/account-names.js';
import { createRedisClient, redisOptionsFromConfig } from '../../migrated/storage/redis-client.js';
import { Redis as RedisClient } from 'ioredis';

/**
 * The migrated side: modules looked up lazily in migrated/registry.ts and built once per deps set.
 * Redis (and PostgreSQL when POSTGRES_ENABLED) clients are created on first use, unless given. Both fail
 * fast when their server is gone (a request gets the module's error answer instead of waiting): Redis through
 * migrated/storage/redis-client.ts (bounded retries and command timeout), PostgreSQL with a short connect timeout.
 */

/** Seconds a PostgreSQL connection attempt may take before the query fails (postgres.js `connect_timeout`). */
export const POSTGRES_CONNECT_TIMEOUT_S = 3;

export interface ServeContext {
  routeId: string;
  module: string;
  params: Record<string, string>;
  clientIp: string;
}

export interface MigratedRunner {
  readonly deps: () => MigratedDeps;
  /** The module instance for `name`, built with the base deps merged with `overrides` (cached per overrides object). */
  module(name: string, overrides?: Partial<MigratedDeps>): Promise<MigratedModule>;
  /**
   * Start the module's first reads for a request it is about to serve (MigratedModule.prefetch), on the instance
   * that will serve it; nothing until that instance is built. serve() calls it too: calling it first (the data
   * handler does, right after routing) only starts the reads earlier. A throw is logged and ignored.
   */
  prefetch(req: IncomingMessage, moduleName: string, overrides?: Partial<MigratedDeps>): void;
  /** Serve one request; a throw before the head is written becomes a 500 in the legacy error shape. */
  serve(req: IncomingMessage, res: ServerResponse, ctx: ServeContext, overrides?: Partial<MigratedDeps>): Promise<void>;
  /** True once a Redis client exists (for /gateway/health). */
  redisIfCreated(): Redis | null;
  close(): Promise<void>;
}

export type FactoryResolver = (name: string) => Promise<MigratedModuleFactory>;

export function createMigratedRunner(
  config: GatewayConfig,
  given: Partial<MigratedDeps>,
  log: Logger,
  now: () => number,
  resolveFactory: FactoryResolver = loadModuleFactory,
): MigratedRunner {
  let redis: Redis | null = given.redis ?? null;
  let ownRedis = false;
  let pg: MigratedDeps['pg'] | undefined = given.pg;
  let ownPg = false;
  let base: MigratedDeps | null = null;
  let accountNames: AccountNameIndex | null = null;

  const deps = (): MigratedDeps => {
    if (base) return base;
    if (!redis) {
      redis = createRedisClient(config, { log });
      ownRedis = true;
    }
    if (pg === undefined) {
      if (config.POSTGRES_ENABLED) {
        pg = postgres({
          host: config.POSTGRES_HOST,
          port: config.POSTGRES_PORT,
          database: config.POSTGRES_DATABASE,
          username: config.POSTGRES_USER,
          password: config.POSTGRES_PASSWORD,
          max: config.POSTGRES_MAX_POOL_SIZE,
          connect_timeout: POSTGRES_CONNECT_TIMEOUT_S,
          onnotice: () => {},
        });
        ownPg = true;
      } else pg = null;
    }
    base = {
      config,
      redis,
      pg,
      clock: given.clock ?? systemClock(config.TIMEZONE_OFFSET),
      ids: given.ids ?? systemIds(),
      log: given.log ?? log,
      upstreamOverride: given.upstreamOverride,
      ...(given.webhooks !== undefined ? { webhooks: given.webhooks } : {}),
      accountNames: given.accountNames !== undefined ? given.accountNames : ownRedis ? (accountNames = accountNameIndex(config, log)) : null,
    };
    return base;
  };

  /** A module instance per (name, overrides): the build under way, and the instance once built (for serve()'s synchronous prefetch). */
  interface Entry {
    built: Promise<MigratedModule>;
    ready?: MigratedModule;
  }
  const baseCache = new Map<string, Entry>();
  const overrideCache = new WeakMap<object, Map<string, Entry>>();
  const built: Promise<MigratedModule>[] = [];
  const cacheFor = (overrides?: Partial<MigratedDeps>): Map<string, Entry> => {
    if (!overrides) return baseCache;
    let cache = overrideCache.get(overrides);
    if (!cache) overrideCache.set(overrides, (cache = new Map()));
    return cache;
  };

  const module = (name: string, overrides?: Partial<MigratedDeps>): Promise<MigratedModule> => {
    const cache = cacheFor(overrides);
    let entry = cache.get(name);
    if (!entry) {
      // another Redis (a shadow sandbox) comes without the base Redis' account name index
      const p = resolveFactory(name).then((factory) => factory(overrides ? { ...deps(), ...(overrides.redis ? { accountNames: null } : {}), ...overrides } : deps()));
      const e: Entry = { built: p };
      p.then(
        (mod) => (e.ready = mod),
        () => cache.delete(name), // retry on the next request
      );
      cache.set(name, (entry = e));
      built.push(p);
    }
    return entry.built;
  };

  function prefetch(req: IncomingMessage, moduleName: string, overrides?: Partial<MigratedDeps>): void {
    try {
      cacheFor(overrides).get(moduleName)?.ready?.prefetch?.(req);
    } catch (err) {
      log.warn({ err: (err as Error).message, module: moduleName }, 'migrated module prefetch failed');
    }
  }

  return {
    deps,
    module,
    redisIfCreated: () => redis,
    prefetch,
    async serve(req, res, ctx, overrides) {
      // the module's first reads go out before the rest of the serving path; the data handler has usually started
      // them already (the module ignores the repeat), other callers (the shadow candidate) have not
      prefetch(req, ctx.module, overrides);
      const controller = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) controller.abort(new Error('client disconnected'));
      };
      res.once('close', onClose);
      try {
        const mod = await module(ctx.module, overrides);
        await mod.handle(req, res, { routeId: ctx.routeId, params: ctx.params, signal: controller.signal, clientIp: ctx.clientIp });
      } catch (err) {
        log.error({ err: (err as Error).message, routeId: ctx.routeId, module: ctx.module }, 'migrated module failed');
        if (!res.headersSent) writeJsonError(res, 500, 'Internal Server Error', 'Something went wrong', now());
        else res.destroy();
        throw err;
      }
    },
    async close() {
      const mods = await Promise.allSettled(built);
      for (const m of mods) if (m.status === 'fulfilled') await m.value.close?.().catch(() => {});
      accountNames?.close();
      if (ownRedis && redis) redis.disconnect();
      if (ownPg && pg) await pg.end({ timeout: 1 }).catch(() => {});
    },
  };
}

/** The account name index on a connection of its own (no reconnect of its own: the index opens a new one). */
function accountNameIndex(config: GatewayConfig, log: Logger): AccountNameIndex {
  return new AccountNameIndex({
    connect: () =>
      new RedisClient({
        ...redisOptionsFromConfig(config, { connectionName: 'gateway-account-names' }),
        lazyConnect: false,
        retryStrategy: () => null,
        autoResubscribe: false,
        maxRetriesPerRequest: 0,
      }),
    log,
  });
}

