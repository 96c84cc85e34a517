import type { Hono } from 'hono';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MetricsRegistry } from '../observability/metrics.js';
import type { ShadowSink } from '../server/shadow-sink.js';
import { shadowAdminRoutes } from './admin/routes.js';
import { ActivityTracker } from './attribution/activity.js';
import { ShadowEngine } from './engine/engine.js';
import { DEFAULT_NOISE_FILE, loadShadowNoiseByRoute } from './engine/noise.js';
import type { AcceptedDeviation } from '../../compat-tests/engine/replay/deviations.js';
import { PrimaryRedisTap } from './redis-tap/tap.js';
import { CommandTable } from './resp/command-table.js';
import { SandboxOverlay } from './sandbox/overlay.js';
import { UpstreamTap } from './upstream-tap/tap.js';

/**
 * Everything shadow mode needs beside the gateway, started together:
 * - the primary Redis tap (the primary's Redis client connects to `primaryRedisPort`),
 * - the sandbox overlay (the candidate's Redis), on a sandbox Redis server,
 * - the upstream tap (the primary's upstream base URL is `upstreamPrimaryUrl`),
 * - the comparison engine, its admin routes and counters.
 *
 * Usage: `const shadow = await startShadowMode(opts)`; `createGateway({ ..., shadowSink: shadow.sink,
 * adminExtensions: [shadow.admin] })`; then `shadow.attach(gateway)` (counters in the gateway's
 * registry, request activity on its data port).
 */

export interface RedisAddress {
  host: string;
  port: number;
  password?: string;
  db?: number;
}

export interface ShadowModeOptions {
  log: Logger;
  /** The production Redis (the primary tap forwards to it; the sandbox reads from it). */
  production: RedisAddress;
  /** A Redis server for the sandbox (never the production server): db `db` for the candidate, `scratchDb` for diffs. */
  sandbox?: (RedisAddress & { scratchDb?: number }) | undefined;
  /** Real upstream base URL behind the upstream tap (omit: no tap). */
  upstreamTarget?: string | undefined;
  /** Also a TLS-terminating CONNECT proxy on the tap's primary port (cert/key PEM). */
  upstreamTls?: { cert: Buffer | string; key: Buffer | string } | undefined;
  /** Where CONNECT-tunnelled calls go (default https://<CONNECT host>). */
  upstreamConnectTarget?: string | undefined;
  redisTapPort?: number;
  upstreamTapPort?: number;
  upstreamCandidatePort?: number;
  settleMs?: number;
  candidateTimeoutMs?: number;
  maxQueue?: number;
  keepDifferences?: number;
  /** Noise files (offline suites' format); default compat-tests/noise.default.json. */
  noiseFiles?: string[];
  /** Accepted deviations; default: compat-tests/accepted-deviations.json. */
  deviations?: AcceptedDeviation[];
  timezoneOffsetHours?: number;
  /** LEGACY_URL's Redis is a sandbox overlay: legacy candidates may run (else they are dropped). */
  legacyCandidateSandboxed?: boolean;
  /** The gateway's data port, when known before the gateway starts (request activity for attribution). */
  dataPort?: number;
}

export interface ShadowMode {
  /** Give this to createGateway as `shadowSink`. */
  sink: ShadowSink;
  /** Give this to createGateway in `adminExtensions`: /gateway/shadow and the shadow counters in /gateway/metrics. */
  admin: (app: Hono) => void;
  /** Point the primary's Redis client here (legacy REDIS_PORT; migrated primary deps.redis). */
  primaryRedisPort: number;
  /** The sandbox overlay: a legacy candidate's REDIS_PORT (null without a sandbox). */
  overlayPort: number | null;
  /** Point the primary's upstream (account apiUrl) here. */
  upstreamPrimaryUrl: string | null;
  upstreamTap: UpstreamTap | null;
  engine: ShadowEngine;
  /** Shadow counters (also appended to the gateway's /gateway/metrics by `admin`). */
  registry: MetricsRegistry;
  /** Observe request activity on the gateway's data port (needed when `dataPort` was not known up front). */
  attach(gateway: { dataPort: number }): ShadowEngine;
  close(): Promise<void>;
}

function client(a: RedisAddress, db = a.db ?? 0): Redis {
  return new Redis({
    host: a.host,
    port: a.port,
    db,
    maxRetriesPerRequest: 2,
    ...(a.password ? { password: a.password } : {}),
  });
}

export async function startShadowMode(o: ShadowModeOptions): Promise<ShadowMode> {
  const owned: Array<{ disconnect(): void }> = [];
  const settleMs = o.settleMs ?? 300;
  const production = client(o.production);
  owned.push(production);
  const table = await CommandTable.load(production);
  const primaryTap = await new PrimaryRedisTap({
    productionHost: o.production.host,
    productionPort: o.production.port,
    table,
    ...(o.redisTapPort !== undefined ? { port: o.redisTapPort } : {}),
  }).start();

  let overlay: SandboxOverlay | undefined;
  let sandboxParts: ConstructorParameters<typeof ShadowEngine>[0]['sandbox'];
  if (o.sandbox) {
    const sandboxDb = o.sandbox.db ?? 0;
    const control = client(o.sandbox, sandboxDb);
    const scratch = client(o.sandbox, o.sandbox.scratchDb ?? 15);
    owned.push(control, scratch);
    overlay = await new SandboxOverlay({
      production,
      sandbox: control,
      sandboxHost: o.sandbox.host,
      sandboxPort: o.sandbox.port,
      sandboxDb,
    }).start();
    const candidateClient = new Redis({ host: '127.0.0.1', port: overlay.port, maxRetriesPerRequest: 2 });
    owned.push(candidateClient);
    sandboxParts = { overlay, client: candidateClient, control, scratch };
  }
  const upstreamTap = o.upstreamTarget
    ? await new UpstreamTap({
        target: o.upstreamTarget,
        ...(o.upstreamTls ? { tls: o.upstreamTls } : {}),
        ...(o.upstreamConnectTarget ? { connectTarget: o.upstreamConnectTarget } : {}),
        ...(o.upstreamTapPort !== undefined ? { primaryPort: o.upstreamTapPort } : {}),
        ...(o.upstreamCandidatePort !== undefined ? { candidatePort: o.upstreamCandidatePort } : {}),
      }).start()
    : null;
  const activity = new ActivityTracker(settleMs);
  let attached = false;
  const attachTo = (port: number) => {
    if (attached || !port) return;
    activity.attach(port);
    attached = true;
  };
  if (o.dataPort) attachTo(o.dataPort);
  const registry = new MetricsRegistry();
  const engine = new ShadowEngine({
    log: o.log,
    registry,
    ...(sandboxParts ? { sandbox: sandboxParts } : {}),
    primaryTap,
    production,
    ...(upstreamTap ? { upstreamTap } : {}),
    activity,
    settleMs,
    ...(o.candidateTimeoutMs !== undefined ? { candidateTimeoutMs: o.candidateTimeoutMs } : {}),
    ...(o.maxQueue !== undefined ? { maxQueue: o.maxQueue } : {}),
    ...(o.keepDifferences !== undefined ? { keepDifferences: o.keepDifferences } : {}),
    noise: loadShadowNoiseByRoute(o.noiseFiles ?? [DEFAULT_NOISE_FILE]),
    timezoneOffsetHours: o.timezoneOffsetHours ?? 8,
    legacyCandidateSandboxed: o.legacyCandidateSandboxed ?? false,
    ...(o.deviations ? { deviations: o.deviations } : {}),
  });

  const describe = () => ({
    settings: { settleMs, candidateTimeoutMs: o.candidateTimeoutMs ?? 30_000, maxQueue: o.maxQueue ?? 64, attribution: attached },
    primaryRedisTap: { port: primaryTap.port, injectedCommands: primaryTap.injected, openWindows: primaryTap.openWindows },
    overlayPort: overlay?.port ?? null,
    sandbox: overlay ? { port: overlay.port, server: `${o.sandbox!.host}:${o.sandbox!.port}` } : null,
    upstreamTap: upstreamTap
      ? {
          primary: upstreamTap.primaryUrl,
          candidate: upstreamTap.candidateUrl,
          forwarded: upstreamTap.forwarded,
          tunnels: upstreamTap.tunnelsOpened,
          recordings: upstreamTap.store.size,
        }
      : null,
  });
  const routes = shadowAdminRoutes({ results: engine.results, describe, timezoneOffsetHours: o.timezoneOffsetHours ?? 8 });

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      activity.detach();
      await engine.close();
      for (const c of owned) c.disconnect();
      await primaryTap.close();
      await overlay?.close();
      await upstreamTap?.close();
    })());

  return {
    sink: engine,
    admin: (app) => {
      app.use('/gateway/metrics', async (c, next) => {
        await next();
        if (c.res.status !== 200) return;
        const base = await c.res.text();
        c.res = new Response(`${base.replace(/\n?$/, '\n')}${registry.render()}`, { status: 200, headers: c.res.headers });
      });
      routes(app);
    },
    primaryRedisPort: primaryTap.port,
    overlayPort: overlay?.port ?? null,
    upstreamPrimaryUrl: upstreamTap?.primaryUrl ?? null,
    upstreamTap,
    engine,
    registry,
    attach(gateway) {
      attachTo(gateway.dataPort);
      return engine;
    },
    close,
  };
}
