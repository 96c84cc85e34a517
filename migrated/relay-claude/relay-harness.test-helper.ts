import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import type { Sql } from 'postgres';
import { loadConfig } from '../../gateway/config/env.js';
import type { MigratedModule, MigratedModuleFactory } from '../module.js';
import { frozenClock, type FrozenClock } from '../runtime/clock.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { scriptedIds, type ScriptedIds } from '../runtime/ids.js';
import { LAB_ENV } from '../routes/shared/trace-replay.test-helper.js';

/** Raw API keys of the shared recordings (bound to the OAuth account, the Console account, and unbound). */
export const KEYS = {
  oauth: 'cr_e8fb01559e581adddffe08bbfc30d9806299acb5d1b1bd5d62f18e440ace65f2',
  console: 'cr_7970e39a6d0ab1a83135e5b9968ef0181150f81666bedb680584395350d3ce14',
  pool: 'cr_5ad45c80d03e8d65becb7def63b2e80ed0243825a8d6e90aa7bcad7abd4c1d3b',
};
export const OAUTH_ACCOUNT = '7ddd352c-bc47-4d4c-a73b-f5b5ccf5ec9f';
export const CONSOLE_ACCOUNT = 'a02045ea-9d91-47f4-a198-5eeb3aa35e39';

export interface RelayHarness {
  port: number;
  deps: MigratedDeps;
  clock: FrozenClock;
  ids: ScriptedIds;
  module: MigratedModule;
  /** Requests the server has fully handled (handle() settled), and any handler rejection. */
  settled: number;
  failures: unknown[];
  close(): Promise<void>;
}

/**
 * Serve a relay module on 127.0.0.1 like the gateway does: the context signal aborts when the
 * client goes away before the response finished.
 */
export async function serveRelay(factory: MigratedModuleFactory, redis: Redis, opts: { atMs: number; upstreamOverride: string; env?: Record<string, string>; webhooks?: boolean; pg?: Sql }): Promise<RelayHarness> {
  const clock = frozenClock(opts.atMs, 8);
  const ids = scriptedIds(3);
  const deps: MigratedDeps = {
    config: loadConfig({ ...LAB_ENV, ...opts.env } as unknown as NodeJS.ProcessEnv),
    redis,
    pg: opts.pg ?? null,
    clock,
    ids,
    log: pino({ level: 'silent' }),
    upstreamOverride: opts.upstreamOverride,
    ...(opts.webhooks !== undefined ? { webhooks: opts.webhooks } : {}),
  };
  const module = factory(deps);
  const h = { settled: 0, failures: [] as unknown[] };
  const server: Server = createServer({ keepAliveTimeout: 605_000 }, (req, res) => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    module
      .handle(req, res, { routeId: 'test', params: {}, signal: controller.signal, clientIp: '127.0.0.1' })
      .catch((err: unknown) => h.failures.push(err))
      .finally(() => h.settled++);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const harness: RelayHarness = {
    port: (server.address() as AddressInfo).port,
    deps,
    clock,
    ids,
    module,
    get settled() {
      return h.settled;
    },
    get failures() {
      return h.failures;
    },
    async close() {
      await module.close?.();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  return harness;
}
