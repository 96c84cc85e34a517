import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { loadConfig } from '../../../gateway/config/env.js';
import { createGateway } from '../../../gateway/create.js';
import { frozenClock } from '../../../migrated/runtime/clock.js';
import { scriptedIds } from '../../../migrated/runtime/ids.js';
import { freePort } from '../../../test-support/free-port.js';
import { pricingFile, projectRoot } from '../../../test-support/paths.js';
import { privateSchema, type PrivateSchema } from '../../../test-support/postgres.js';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { dumpRedisSnapshot, loadRedisSnapshot, type RedisSnapshot as LoaderSnapshot } from '../../../test-support/redis-snapshot.js';
import { startMockUpstream, type MockUpstream, type RecordedUpstream } from '../../mock-upstream/server.js';
import { diffExchange } from '../diff/exchange-diff.js';
import { decodeBytes } from '../format/bytes.js';
import { upstreamFromLog, type MockLogEntry } from '../format/mock-log.js';
import { rawHeader, type Exchange, type PgSnapshot, type RedisSnapshot, type UpstreamExchange } from '../format/exchange.js';
import { sendCaptured } from '../record/http-capture.js';
import { dumpPgSnapshot } from '../record/pg-snapshot.js';
import { defaultNoiseFile } from '../noise/cli-learn.js';
import { compileNoise, readNoiseFile, type NoiseFile } from '../noise/rules.js';
import { blankResult, type ExchangeResult } from '../report/model.js';
import type { ReplayFn } from '../run-suites.js';
import type { RouteResolution, RouteResolver } from '../routing/resolve.js';
import { readDeviations, splitDeviations } from './deviations.js';
import { createLegacySchema, loadPgSnapshot } from './pg-state.js';

/**
 * Replays recorded exchanges against the migrated modules, in-process: one private Redis, one
 * PostgreSQL schema (when the server answers) and one mock upstream per run; per exchange the
 * recorded pre-state is loaded, the clock frozen at the recorded start, ids scripted (the
 * recorded X-Request-ID queued), the recorded upstream answers served, a gateway started with
 * the exchange's route forced to `migrated`, the exact request sent, and everything diffed.
 */
export interface Replayer {
  replay: ReplayFn;
  close(): Promise<void>;
  readonly pgNote: string;
}

export interface ReplayerOptions {
  resolver: RouteResolver;
  deviationsFile?: string;
  /** Minimum wait after the response for after-response writes (ms). */
  settleMs?: number;
  settleMaxMs?: number;
  /** Extra migrated modules (tests), consulted before migrated/registry.ts. */
  modules?: Record<string, () => Promise<import('../../../migrated/module.js').MigratedModuleFactory>>;
}

/** Our mock's log entries have the shape the recorder reads over HTTP. */
const toUpstream = (r: RecordedUpstream): UpstreamExchange => upstreamFromLog(r as unknown as MockLogEntry);

function forcedTable(table: unknown, routeIds: ReadonlySet<string>): unknown {
  const t = structuredClone(table) as { routes: Array<{ id: string; mode: string }> };
  for (const r of t.routes) if (routeIds.has(r.id)) r.mode = 'migrated';
  return t;
}

export async function createReplayer(opts: ReplayerOptions): Promise<Replayer> {
  let redis: PrivateRedis | null = null;
  let mock: MockUpstream | null = null;
  let pg: PrivateSchema | null = null;
  let pgNote = 'PostgreSQL: not needed yet';
  const deviations = readDeviations(opts.deviationsFile ?? join(projectRoot, 'compat-tests', 'accepted-deviations.json'));
  const noiseCache = new Map<string, NoiseFile[]>();
  const settleMs = opts.settleMs ?? 40;
  const settleMaxMs = opts.settleMaxMs ?? 3000;
  let deadLegacyPort = 0;

  const ensure = async () => {
    if (!redis) redis = await startPrivateRedis();
    if (!mock) mock = await startMockUpstream({ settings: { chunkDelayMs: 0, splitDelayMs: 0, latencyMs: 0 } });
    if (!deadLegacyPort) deadLegacyPort = await freePort();
    if (!pg && pgNote === 'PostgreSQL: not needed yet') {
      try {
        pg = await privateSchema('compat');
        await createLegacySchema(pg.sql);
        pgNote = `PostgreSQL: private schema ${pg.schema}`;
      } catch (err) {
        pg = null;
        pgNote = `PostgreSQL: not compared (${(err as Error).message})`;
      }
    }
    return { redis: redis!, mock: mock!, pg };
  };

  const noiseFor = (suiteDir: string): NoiseFile[] => {
    let n = noiseCache.get(suiteDir);
    if (!n) {
      n = [readNoiseFile(defaultNoiseFile), readNoiseFile(join(suiteDir, 'noise.json'))];
      noiseCache.set(suiteDir, n);
    }
    return n;
  };

  const replay: ReplayFn = async (suite: string, suiteDir: string, ex: Exchange, route: RouteResolution): Promise<ExchangeResult> => {
    const t0 = Date.now();
    // requests held in flight alongside this one must be served by migrated modules too
    const routeIds = new Set([route.routeId!]);
    for (const b of ex.background ?? []) {
      const br = opts.resolver.resolve(b.request.method, b.request.path);
      if (!br.migrated) {
        const why = `a request held in flight alongside (${b.request.method} ${b.request.path}) is not migrated: ${br.reason ?? ''}`;
        return blankResult(suite, ex, route, 'not-migrated', why);
      }
      routeIds.add(br.routeId!);
    }
    const env = await ensure();
    const client = env.redis.client();
    await loadRedisSnapshot(client, ex.redis.before as unknown as LoaderSnapshot);
    const usePg = !!(env.pg && ex.pg);
    if (usePg) await loadPgSnapshot(env.pg!.sql, ex.pg!.before);
    const clock = frozenClock(ex.clock.startMs, ex.clock.timezoneOffsetHours);
    const ids = scriptedIds(1);
    const reqId = rawHeader(ex.response.rawHeaders, 'x-request-id');
    if (reqId) ids.queueRequestIds(reqId);
    env.mock.reset();
    env.mock.settings.nowMs = () => clock.now();
    // a client that hangs up mid-stream needs the lab mock's pacing (15 ms between events) to see the same events
    env.mock.settings.chunkDelayMs = ex.clientAbort ? 15 : 0;
    env.mock.setReplay(ex.upstream);
    const config = loadConfig({
      ...process.env,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_ADMIN_PORT: '0',
      LEGACY_URL: `http://127.0.0.1:${deadLegacyPort}`,
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(env.redis.port),
      REDIS_PASSWORD: '',
      REDIS_DB: '0',
      TIMEZONE_OFFSET: String(ex.clock.timezoneOffsetHours),
      PRICING_FILE: pricingFile,
      LOG_LEVEL: 'silent',
      POSTGRES_ENABLED: usePg ? 'true' : 'false',
      ENCRYPTION_KEY: process.env['COMPAT_ENCRYPTION_KEY'] ?? 'lab-encryption-key-32chars-00000',
      JWT_SECRET: process.env['COMPAT_JWT_SECRET'] ?? 'lab-jwt-secret-0123456789abcdef0123456789abcdef',
      API_KEY_PREFIX: 'cr_',
    });
    const gateway = await createGateway({
      config,
      table: forcedTable(opts.resolver.table, routeIds),
      deps: { redis: client, pg: usePg ? env.pg!.sql : null, clock, ids, log: pino({ level: 'silent' }), upstreamOverride: env.mock.url, webhooks: false },
      logger: pino({ level: 'silent' }),
      watch: false,
      ...(opts.modules ? { modules: opts.modules } : {}),
    });
    let res;
    let redisAfter: RedisSnapshot;
    let pgAfter: PgSnapshot | null = null;
    try {
      const base = `http://127.0.0.1:${gateway.dataPort}`;
      // requests held in flight while this one runs (concurrency cases), started first, in order
      const held: Array<Promise<unknown>> = [];
      for (const b of ex.background ?? []) {
        held.push(sendCaptured(base, { ...b.request, body: decodeBytes(b.request.body) }));
        await new Promise((r) => setTimeout(r, b.leadMs));
      }
      res = await sendCaptured(
        base,
        { method: ex.request.method, path: ex.request.path, rawHeaders: ex.request.rawHeaders, body: decodeBytes(ex.request.body) },
        60_000,
        ex.clientAbort ?? {},
      );
      await Promise.all(held);
      // settle: after-response writes (usage) land late; wait until two snapshots agree
      // after a hang-up the service notices late (the recorder waited 1.5 s): wait as long
      await new Promise((r) => setTimeout(r, ex.clientAbort ? 1500 : settleMs));
      redisAfter = (await dumpRedisSnapshot(client)) as RedisSnapshot;
      const giveUp = Date.now() + settleMaxMs;
      for (;;) {
        await new Promise((r) => setTimeout(r, 25));
        const again = (await dumpRedisSnapshot(client)) as RedisSnapshot;
        const same = JSON.stringify(again) === JSON.stringify(redisAfter);
        redisAfter = again;
        if (same || Date.now() > giveUp) break;
      }
      if (usePg) pgAfter = await dumpPgSnapshot(env.pg!.sql, env.pg!.schema);
    } finally {
      await gateway.close();
      client.disconnect();
    }
    const noise = compileNoise(noiseFor(suiteDir), ex.name, route.routeId);
    const d = diffExchange(
      ex,
      { response: { status: res.status, rawHeaders: res.rawHeaders, body: res.body }, upstream: env.mock.requests().map(toUpstream), redisAfter, pgAfter },
      noise,
    );
    const { unexpected, deviations: accepted } = splitDeviations(`${suite}/${ex.name}`, d.differences, deviations);
    const notes = [res.error ? `client saw: ${res.error}` : '', ex.pg && !usePg ? pgNote : ''].filter(Boolean).join('; ');
    return {
      ...blankResult(suite, ex, route, unexpected.length ? 'differs' : accepted.length ? 'deviation' : 'identical', notes || undefined),
      differences: unexpected,
      deviations: accepted,
      ignored: d.ignored,
      durationMs: Date.now() - t0,
      // bodies side by side only where something differs (keeps the reports small)
      ...(d.differences.length === 0
        ? {}
        : {
            sideBySide: {
              expected: decodeBytes(ex.response.body).toString('utf8').slice(0, 20000),
              actual: res.body.toString('utf8').slice(0, 20000),
              firstDivergence: d.firstBodyDivergence,
            },
          }),
    };
  };

  return {
    replay,
    get pgNote() {
      return pgNote;
    },
    async close() {
      await mock?.close();
      await redis?.stop();
      await pg?.drop();
    },
  };
}
