import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import * as v from 'valibot';
import type { GatewayConfig } from '../config/env.js';
import type { GatewayOptions } from '../create.js';
import { startShadowMode, type ShadowMode } from './setup.js';

/**
 * Shadow mode from the environment (gateway/main.ts). Off unless SHADOW_ENABLED=true.
 *
 *   SHADOW_SANDBOX_REDIS_HOST/PORT/DB   the sandbox Redis server (required; never the production one)
 *   SHADOW_SCRATCH_DB                   sandbox database used to canonicalise values (default 15)
 *   SHADOW_REDIS_TAP_PORT               port of the primary Redis tap (point the legacy's REDIS_PORT here)
 *   SHADOW_UPSTREAM_TARGET              real upstream behind the upstream tap (omit: no tap)
 *   SHADOW_UPSTREAM_TAP_PORT            primary side of the tap (point account apiUrl here)
 *   SHADOW_UPSTREAM_CANDIDATE_PORT      candidate side of the tap (the candidate's upstreamOverride)
 *   SHADOW_UPSTREAM_TLS_CERT/KEY        PEM files: the tap's primary port is also a TLS-terminating CONNECT
 *                                       proxy (an official account's proxy setting points here)
 *   SHADOW_UPSTREAM_CONNECT_TARGET      where tunnelled calls go (default https://<CONNECT host>)
 *   SHADOW_SETTLE_MS, SHADOW_CANDIDATE_TIMEOUT_MS, SHADOW_MAX_QUEUE, SHADOW_KEEP_DIFFERENCES
 *   SHADOW_NOISE_FILES                  comma-separated noise files (default compat-tests/noise.default.json)
 *   SHADOW_TAP_MIGRATED_REDIS           true (default): migrated modules reach production through the tap,
 *                                       so a migrated primary's writes are attributed too
 *   SHADOW_LEGACY_CANDIDATE_SANDBOXED   true only when LEGACY_URL's Redis is a sandbox overlay port: then routes
 *                                       with primary "migrated" run the legacy as candidate (else dropped, counted)
 */

const int = (fallback: number, min = 0) =>
  v.pipe(v.optional(v.string(), String(fallback)), v.transform(Number), v.number('must be a number'), v.integer('must be an integer'), v.minValue(min, `must be >= ${min}`));
const flag = (fallback: boolean) =>
  v.pipe(v.optional(v.string(), String(fallback)), v.picklist(['true', 'false', '1', '0'], 'must be true or false'), v.transform((s) => s === 'true' || s === '1'));

export const ShadowEnvSchema = v.object({
  SHADOW_ENABLED: flag(false),
  SHADOW_SANDBOX_REDIS_HOST: v.optional(v.string(), '127.0.0.1'),
  SHADOW_SANDBOX_REDIS_PORT: int(0),
  SHADOW_SANDBOX_REDIS_DB: int(0),
  SHADOW_SCRATCH_DB: int(15),
  SHADOW_REDIS_TAP_PORT: int(0),
  SHADOW_UPSTREAM_TARGET: v.optional(v.pipe(v.string(), v.url('must be an absolute URL'))),
  SHADOW_UPSTREAM_TAP_PORT: int(0),
  SHADOW_UPSTREAM_TLS_CERT: v.optional(v.string()),
  SHADOW_UPSTREAM_TLS_KEY: v.optional(v.string()),
  SHADOW_UPSTREAM_CONNECT_TARGET: v.optional(v.pipe(v.string(), v.url('must be an absolute URL'))),
  SHADOW_UPSTREAM_CANDIDATE_PORT: int(0),
  SHADOW_SETTLE_MS: int(300),
  SHADOW_CANDIDATE_TIMEOUT_MS: int(30_000, 1),
  SHADOW_MAX_QUEUE: int(64, 1),
  SHADOW_KEEP_DIFFERENCES: int(50, 1),
  SHADOW_NOISE_FILES: v.optional(v.string()),
  SHADOW_TAP_MIGRATED_REDIS: flag(true),
  SHADOW_LEGACY_CANDIDATE_SANDBOXED: flag(false),
});
export type ShadowEnv = v.InferOutput<typeof ShadowEnvSchema>;

export function parseShadowEnv(env: NodeJS.ProcessEnv): ShadowEnv {
  const input: Record<string, string> = {};
  for (const key of Object.keys(ShadowEnvSchema.entries)) if (env[key]) input[key] = env[key]!;
  const r = v.safeParse(ShadowEnvSchema, input);
  if (!r.success) {
    const issue = r.issues[0]!;
    const name = issue.path?.map((p) => String(p.key)).join('.') ?? '(environment)';
    throw new Error(`invalid configuration: ${name}=${JSON.stringify(input[name] ?? '')}: ${issue.message}`);
  }
  return r.output;
}

export interface ShadowRuntime {
  mode: ShadowMode;
  /** Options to merge into createGateway's (keeps the caller's adminExtensions). */
  extend(opts: GatewayOptions): GatewayOptions;
}

export async function shadowFromEnv(env: NodeJS.ProcessEnv, config: GatewayConfig, log: Logger): Promise<ShadowRuntime | null> {
  const e = parseShadowEnv(env);
  if (!e.SHADOW_ENABLED) return null;
  if (!e.SHADOW_SANDBOX_REDIS_PORT) throw new Error('invalid configuration: SHADOW_SANDBOX_REDIS_PORT must name the sandbox Redis when SHADOW_ENABLED=true');
  if (e.SHADOW_SANDBOX_REDIS_PORT === config.REDIS_PORT && e.SHADOW_SANDBOX_REDIS_HOST === config.REDIS_HOST) {
    throw new Error('invalid configuration: SHADOW_SANDBOX_REDIS_PORT is the production Redis; the sandbox must be another server');
  }
  const mode = await startShadowMode({
    log: log.child({ part: 'shadow' }),
    production: {
      host: config.REDIS_HOST,
      port: config.REDIS_PORT,
      db: config.REDIS_DB,
      ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
    },
    sandbox: { host: e.SHADOW_SANDBOX_REDIS_HOST, port: e.SHADOW_SANDBOX_REDIS_PORT, db: e.SHADOW_SANDBOX_REDIS_DB, scratchDb: e.SHADOW_SCRATCH_DB },
    upstreamTarget: e.SHADOW_UPSTREAM_TARGET,
    upstreamTls:
      e.SHADOW_UPSTREAM_TLS_CERT && e.SHADOW_UPSTREAM_TLS_KEY
        ? { cert: readFileSync(e.SHADOW_UPSTREAM_TLS_CERT), key: readFileSync(e.SHADOW_UPSTREAM_TLS_KEY) }
        : undefined,
    upstreamConnectTarget: e.SHADOW_UPSTREAM_CONNECT_TARGET,
    redisTapPort: e.SHADOW_REDIS_TAP_PORT,
    upstreamTapPort: e.SHADOW_UPSTREAM_TAP_PORT,
    upstreamCandidatePort: e.SHADOW_UPSTREAM_CANDIDATE_PORT,
    settleMs: e.SHADOW_SETTLE_MS,
    candidateTimeoutMs: e.SHADOW_CANDIDATE_TIMEOUT_MS,
    maxQueue: e.SHADOW_MAX_QUEUE,
    keepDifferences: e.SHADOW_KEEP_DIFFERENCES,
    timezoneOffsetHours: config.TIMEZONE_OFFSET,
    dataPort: config.GATEWAY_PORT,
    legacyCandidateSandboxed: e.SHADOW_LEGACY_CANDIDATE_SANDBOXED,
    ...(e.SHADOW_NOISE_FILES ? { noiseFiles: e.SHADOW_NOISE_FILES.split(',').map((f) => f.trim()).filter(Boolean) } : {}),
  });
  log.info(
    { primaryRedisTap: mode.primaryRedisPort, upstreamTap: mode.upstreamPrimaryUrl, candidateUpstream: mode.upstreamTap?.candidateUrl ?? null },
    'shadow mode on: point the primary Redis client at the tap port and account apiUrl at the upstream tap',
  );
  const tappedRedis = e.SHADOW_TAP_MIGRATED_REDIS
    ? new Redis({ host: '127.0.0.1', port: mode.primaryRedisPort, db: config.REDIS_DB, lazyConnect: true, maxRetriesPerRequest: 2, ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}) })
    : null;
  const sink = {
    onExchange: mode.sink.onExchange.bind(mode.sink),
    async close() {
      await mode.close();
      tappedRedis?.disconnect();
    },
  };
  return {
    mode,
    extend(opts) {
      return {
        ...opts,
        shadowSink: sink,
        adminExtensions: [...(opts.adminExtensions ?? []), mode.admin],
        ...(tappedRedis ? { deps: { ...opts.deps, redis: tappedRedis } } : {}),
      };
    },
  };
}
