import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import { pino, type Logger } from 'pino';
import { createLegacyBridge } from '../legacy-bridge/bridge.js';
import { trustedProxies } from '../legacy-bridge/client-address.js';
import type { MigratedModuleFactory } from '../migrated/module.js';
import { knownModuleNames, loadModuleFactory } from '../migrated/registry.js';
import type { MigratedDeps } from '../migrated/runtime/deps.js';
import { createAdminApp } from './admin/admin-app.js';
import { createConnectionDrain } from './lifecycle/drain.js';
import type { GatewayConfig } from './config/env.js';
import { gatewayMetrics, type GatewayMetrics } from './observability/metrics.js';
import { LiveTable, type ApplyResult, type TableStatus } from './routing/live-table.js';
import type { CompiledTable } from './routing/match.js';
import { readTableFile, watchTableFile } from './routing/table-file.js';
import { validateTable } from './routing/validate.js';
import { CANDIDATE_CAPTURE_BYTES, createCandidateRunner } from './server/candidate.js';
import { createDataHandler } from './server/data-handler.js';
import { createMigratedRunner } from './server/migrated-runner.js';
import { startMaintenance } from '../migrated/maintenance/index.js';
import { notifierFor } from '../migrated/notify/notifier.js';
import { discardingSink, type ShadowSink } from './server/shadow-sink.js';
import { createShadowTee } from './server/shadow-tee.js';

/**
 * The whole gateway in-process: data port (routes each request to legacy / migrated / shadow / canary),
 * admin port (health, routes, metrics, reload), live routing table with hot reload.
 * Used by main.ts, the compat replayer, the shadow tests and the fleet drill.
 */

export interface GatewayOptions {
  config: GatewayConfig;
  /** A routing table object to use instead of reading config.ROUTING_TABLE (then the file is not watched). */
  table?: unknown;
  /** Overrides for the migrated modules' deps (redis, pg, clock, ids, log, upstreamOverride). */
  deps?: Partial<MigratedDeps>;
  logger?: Logger;
  /** Receives shadow copies; default runs the candidate and discards the result. */
  shadowSink?: ShadowSink;
  /** Mount extra admin endpoints (e.g. `/gateway/shadow`, fleet info). */
  adminExtensions?: Array<(app: Hono) => void>;
  /** Extra migrated modules for this gateway only (tests), consulted before migrated/registry.ts. */
  modules?: Record<string, () => Promise<MigratedModuleFactory>>;
  /** Watch the table file for changes (default true when the table comes from the file). */
  watch?: boolean;
  /** Random source for shadow sampling (default Math.random). */
  random?: () => number;
  /**
   * Where `reload()` reads the table from. Default: the ROUTING_TABLE file; when `table` is given and this is
   * not, `reload()` re-validates the live table (it never reverts to the table given at start).
   */
  loadTable?: () => Promise<unknown>;
  /** Called after `POST /gateway/reload` (main.ts uses it to reload every cluster worker). */
  onAdminReload?: () => void;
  /** `/gateway/metrics` serves what this returns for the local exposition (main.ts: merged over cluster workers). */
  collectMetrics?: (local: string) => Promise<string>;
  /**
   * Run the legacy's background sweeps of the relay's state on the migrated side's Redis (and PostgreSQL mirror):
   * migrated/maintenance. Every minute (or `intervalMs`): expired concurrency leases, user-message locks without
   * expiry. Every `CLEANUP_INTERVAL` (or `hourlyIntervalMs`): expired keys, error accounts, missing TTLs. At start
   * and every 5 minutes (or `rateLimitIntervalMs`): expired rate limits and 5-hour stops, with the recovery webhook.
   * main.ts turns it on; off by default.
   */
  maintenance?: boolean | { intervalMs?: number; hourlyIntervalMs?: number; rateLimitIntervalMs?: number };
}

export interface Gateway {
  readonly dataPort: number;
  readonly adminPort: number;
  /** Validate and swap in a table; an invalid one is rejected, logged and counted, the live one stays. */
  applyTable(table: unknown, source: string): ApplyResult;
  /** Re-read the table source (config.ROUTING_TABLE or `loadTable`); see GatewayOptions.loadTable. */
  reload(): Promise<ApplyResult>;
  liveTable(): CompiledTable;
  tableStatus(): TableStatus;
  readonly metrics: GatewayMetrics;
  /** Requests being served right now on the data port. */
  inFlight(): number;
  /** Stop accepting, let in-flight requests finish (up to GATEWAY_DRAIN_TIMEOUT_MS), release everything. */
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const log = opts.logger ?? pino({ level: config.LOG_LEVEL, base: { svc: 'gateway' } });
  const now = opts.deps?.clock ? () => opts.deps!.clock!.now() : Date.now;
  const metrics = gatewayMetrics();
  const extra = opts.modules ?? {};
  const knownModules = () => [...new Set([...knownModuleNames(), ...Object.keys(extra)])];
  const resolveFactory = (name: string) => (extra[name] ? extra[name]() : loadModuleFactory(name));

  // Routing table: the given object, or the file.
  const fromFile = opts.table === undefined;
  const initialInput = fromFile ? await readTableFile(config.ROUTING_TABLE) : opts.table;
  const initial = validateTable(initialInput, { knownModules: knownModules() });
  if (!initial.ok) throw new Error(`routing table ${fromFile ? config.ROUTING_TABLE : '(given)'} is invalid: ${initial.errors.join('; ')}`);
  const source = fromFile ? config.ROUTING_TABLE : 'options.table';
  const live = new LiveTable(initial.compiled, source, Date.now, initial.warnings);
  if (initial.warnings.length) log.warn({ source, warnings: initial.warnings }, 'routing table warnings');

  const applyTable = (table: unknown, src: string): ApplyResult => {
    const result = live.apply(table, src, { knownModules: knownModules() });
    if (result.ok) {
      metrics.reloads.inc();
      log.info({ source: src, version: result.version, changes: result.changes }, 'routing table applied');
    } else {
      metrics.reloadErrors.inc();
      log.error({ source: src, errors: result.errors }, 'routing table rejected; the last good table stays');
    }
    return result;
  };

  const reload = async (): Promise<ApplyResult> => {
    if (!fromFile && !opts.loadTable) return applyTable(live.current.table, 'reload (live table re-validated)');
    const src = opts.loadTable ? 'options.loadTable' : config.ROUTING_TABLE;
    let input: unknown;
    try {
      input = opts.loadTable ? await opts.loadTable() : await readTableFile(config.ROUTING_TABLE);
    } catch (err) {
      const message = (err as Error).message;
      live.recordError(src, [message]);
      metrics.reloadErrors.inc();
      log.error({ source: src, err: message }, 'routing table unreadable; the last good table stays');
      return { ok: false, error: message, errors: [message] };
    }
    return applyTable(input, src);
  };

  // Sides.
  const bridge = createLegacyBridge({
    legacyUrl: config.LEGACY_URL,
    timeoutMs: config.LEGACY_TIMEOUT_MS,
    now,
    onFailure: (kind, err, req) => {
      metrics.errors.inc({ route: live.current.match(req.method ?? 'GET', req.url ?? '/')?.route.id ?? '(default)', side: 'legacy', kind: `legacy_${kind}` });
      log.warn({ kind, err: err.message, url: req.url }, 'legacy request failed');
    },
  });
  const runner = createMigratedRunner(config, opts.deps ?? {}, log, now, resolveFactory);
  const candidates = createCandidateRunner(config.LEGACY_URL, runner);
  const maintenance = opts.maintenance
    ? startMaintenance({
        redis: () => runner.deps().redis,
        pg: () => runner.deps().pg,
        clock: runner.deps().clock,
        log,
        hourlyIntervalMs: config.CLEANUP_INTERVAL,
        notifier: () => notifierFor(runner.deps()),
        ...(typeof opts.maintenance === 'object' ? opts.maintenance : {}),
      })
    : null;
  const tee = createShadowTee({
    sink: opts.shadowSink ?? discardingSink,
    candidates,
    metrics,
    log,
    random: opts.random ?? Math.random,
    now,
  });

  const handle = createDataHandler({
    live,
    bridge,
    runner,
    tee,
    metrics,
    log,
    debugHeaders: config.GATEWAY_DEBUG_HEADERS,
    trustedProxies: trustedProxies(config.GATEWAY_TRUSTED_PROXIES),
    captureBytes: CANDIDATE_CAPTURE_BYTES,
  });

  const inFlight = createConnectionDrain();
  const dataServer = createServer({ keepAliveTimeout: 605_000, requestTimeout: 0, headersTimeout: 60_000, noDelay: true }, (req: IncomingMessage, res: ServerResponse) => {
    inFlight.track(req, res);
    handle(req, res);
  });
  dataServer.keepAliveTimeout = 605_000;

  metrics.registry.gauge('gateway_in_flight_requests', 'Requests being served on the data port', () => [[{}, inFlight.inFlight()]]);

  const startedAt = Date.now();
  const adminApp = createAdminApp({
    live,
    registry: metrics.registry,
    legacyUrl: config.LEGACY_URL,
    reload: async () => {
      const result = await reload();
      opts.onAdminReload?.();
      return result;
    },
    redis: () => runner.redisIfCreated(),
    collectMetrics: opts.collectMetrics,
    startedAt,
    now: Date.now,
    ...(opts.adminExtensions ? { extensions: opts.adminExtensions } : {}),
  });
  const adminServer = createAdaptorServer({ fetch: adminApp.fetch }) as Server;

  const dataPort = await listen(dataServer, config.GATEWAY_PORT, config.GATEWAY_HOST);
  let adminPort: number;
  try {
    adminPort = await listen(adminServer, config.GATEWAY_ADMIN_PORT, config.GATEWAY_ADMIN_HOST);
  } catch (err) {
    dataServer.close();
    throw err;
  }
  const watcher = fromFile && opts.watch !== false ? watchTableFile(config.ROUTING_TABLE, () => void reload()) : null;
  log.info({ dataPort, adminPort, legacy: config.LEGACY_URL, table: live.describe().version }, 'gateway listening');

  let closing: Promise<void> | null = null;
  return {
    dataPort,
    adminPort,
    applyTable,
    reload,
    liveTable: () => live.current,
    tableStatus: () => live.describe(),
    metrics,
    inFlight: () => inFlight.inFlight(),
    close() {
      closing ??= (async () => {
        watcher?.close();
        // Stop accepting; Connection: close on every response from now on; idle keep-alive connections closed
        // at once, busy ones after their response; resolves when nothing is in flight (or at the timeout).
        let isClosed = false;
        const closed = new Promise<void>((r) => dataServer.once('close', () => r())).then(() => {
          isClosed = true;
        });
        const deadline = Date.now() + config.GATEWAY_DRAIN_TIMEOUT_MS;
        let drained = await inFlight.drain(dataServer, config.GATEWAY_DRAIN_TIMEOUT_MS);
        while (drained && !isClosed) {
          // Every connection was told close or ended: give peers a moment to close their side. A request whose
          // bytes were already on a connection when the drain began arrives now: serve it too (it says close).
          let grace: NodeJS.Timeout | undefined;
          await Promise.race([closed, new Promise<void>((r) => (grace = setTimeout(r, 500)))]);
          clearTimeout(grace);
          if (isClosed || inFlight.inFlight() === 0) break;
          drained = await inFlight.waitIdle(deadline - Date.now());
        }
        dataServer.closeAllConnections();
        await closed;
        // The server reports 'close' when its last socket closed; the responses on those sockets emit their own
        // 'close' (which ends their in-flight count) shortly after: wait for them (bounded).
        await inFlight.waitIdle(1_000);
        adminServer.closeAllConnections?.();
        await new Promise<void>((r) => adminServer.close(() => r()));
        await candidates.close();
        await opts.shadowSink?.close?.();
        bridge.close();
        maintenance?.stop();
        await runner.close();
        log.info({ inFlightLeft: inFlight.inFlight(), drained }, 'gateway closed');
      })();
      return closing;
    },
  };
}
