import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../../migrated/runtime/clock.js';
import { writeHeartbeat, type Heartbeat } from './instances.js';
import { FLEET_KEYS } from './keys.js';
import {
  fleetVersion,
  readPublished,
  readRevision,
  tableToApply,
  type PublishedTable,
} from './published-table.js';

/**
 * One gateway instance following the published table:
 * - subscribes to the publish channel (a dedicated connection) and also polls the revision every `pollMs`,
 *   so a message lost during a reconnect costs at most one poll interval;
 * - validates each new revision against its own module registry and applies it in one call
 *   (`applyTable` swaps the compiled table atomically; in-flight requests finish on their side);
 * - a revision it cannot validate or apply is NOT applied: the instance keeps its last good table and
 *   reports the error (status + heartbeat), so a half-applied fleet is visible in /gateway/routes;
 * - heartbeats `{ instanceId, revision, version, appliedAt, ... }` into Redis right after each apply
 *   and every `pollMs`;
 * - when Redis is unreachable it keeps serving its last good table and says so in its status.
 */

export interface TableApplier {
  /** Validate and swap in atomically (the gateway's `applyTable`); refuse with an error when invalid. */
  applyTable(table: unknown, source: string): { ok: boolean; error?: string | undefined } | Promise<{ ok: boolean; error?: string | undefined }>;
}

export interface FleetSyncOptions {
  /** Command connection (heartbeats, reads). Commands must fail fast when Redis is away. */
  redis: Redis;
  /** A second connection for SUBSCRIBE (becomes subscriber-only). */
  subscriber: Redis;
  applier: TableApplier;
  clock: Clock;
  instanceId?: string | undefined;
  pollMs?: number | undefined;
  log?: Pick<Logger, 'info' | 'warn' | 'error'> | undefined;
  /** How long start-up waits for the first Redis check (default 500 ms); it continues in the background. */
  firstCheckWaitMs?: number | undefined;
  /** The published document the gateway was created with (from Redis or the local copy), if any. */
  initial?: PublishedTable | undefined;
  /** Called after a revision was applied (the runtime keeps a local copy for restarts without Redis). */
  onApplied?: ((doc: PublishedTable) => Promise<void>) | undefined;
}

export type RedisState = 'connecting' | 'ok' | 'unreachable';

export interface FleetStatus {
  instanceId: string;
  source: 'redis';
  redis: RedisState;
  /** Last successful Redis round trip (ms epoch), null before the first. */
  lastContactAt: number | null;
  /** Highest revision seen in Redis. */
  publishedRevision: number | null;
  /** What this instance runs: null while it still runs the table from its file. */
  applied: { revision: number; version: string; sha256: string; appliedAt: number; publishedAt: number } | null;
  /** Set when the latest revision could not be applied (the last good table keeps serving). */
  lastError: { revision: number | null; message: string; at: number } | null;
  /** True when the instance runs the latest published revision (or nothing is published) and Redis answers. */
  inSync: boolean;
  /** Revisions applied / rejected since start. */
  applies: number;
  rejects: number;
}

export interface FleetSync {
  status(): FleetStatus;
  /** Check Redis now and apply a newer revision (also used by tests). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function defaultInstanceId(): string {
  return `${hostname()}:${process.pid}`;
}

export async function startFleetSync(opts: FleetSyncOptions): Promise<FleetSync> {
  const { redis, subscriber, applier, clock, log } = opts;
  const pollMs = opts.pollMs ?? 1000;
  const instanceId = opts.instanceId ?? defaultInstanceId();
  const startedAt = clock.now();

  const state: FleetStatus = {
    instanceId,
    source: 'redis',
    redis: 'connecting',
    lastContactAt: null,
    publishedRevision: null,
    applied: null,
    lastError: null,
    inSync: false,
    applies: 0,
    rejects: 0,
  };
  if (opts.initial) {
    const d = opts.initial;
    state.applied = { revision: d.revision, version: fleetVersion(d), sha256: d.sha256, appliedAt: startedAt, publishedAt: d.publishedAt };
  }
  /** A revision that failed validation/apply: not retried until a newer one appears. */
  let rejected: { revision: number; sha256: string } | null = null;
  let closed = false;

  const contact = () => {
    if (state.redis !== 'ok') log?.info({ instanceId }, 'fleet: redis reachable');
    state.redis = 'ok';
    state.lastContactAt = clock.now();
  };
  const lost = (err: unknown) => {
    if (state.redis !== 'unreachable') {
      log?.warn({ instanceId, err: describe(err), revision: state.applied?.revision ?? null }, 'fleet: redis unreachable, keeping the last good table');
    }
    state.redis = 'unreachable';
  };
  const recomputeSync = () => {
    const latest = state.publishedRevision;
    state.inSync = state.redis === 'ok' && (latest === null || latest === 0 || state.applied?.revision === latest);
  };

  const heartbeat = async () => {
    const hb: Heartbeat = {
      instanceId,
      host: hostname(),
      pid: process.pid,
      revision: state.applied?.revision ?? null,
      version: state.applied?.version ?? null,
      sha256: state.applied?.sha256 ?? null,
      appliedAt: state.applied?.appliedAt ?? null,
      heartbeatAt: clock.now(),
      startedAt,
      lastError: state.lastError ? `r${state.lastError.revision ?? '?'}: ${state.lastError.message}` : null,
    };
    await writeHeartbeat(redis, hb);
  };

  const apply = async (doc: PublishedTable) => {
    const fail = (message: string) => {
      rejected = { revision: doc.revision, sha256: doc.sha256 };
      state.rejects++;
      state.lastError = { revision: doc.revision, message, at: clock.now() };
      recomputeSync(); // status() is consistent as soon as the error shows, not only after the heartbeat below
      log?.error({ instanceId, revision: doc.revision, err: message }, 'fleet: published table rejected, keeping the last good table');
    };
    let table: unknown;
    try {
      table = tableToApply(doc);
    } catch (err) {
      return fail(describe(err));
    }
    let result: { ok: boolean; error?: string | undefined };
    try {
      result = await applier.applyTable(table, `redis r${doc.revision}`);
    } catch (err) {
      result = { ok: false, error: describe(err) };
    }
    if (!result.ok) return fail(result.error ?? 'applyTable refused the table');
    state.applied = { revision: doc.revision, version: fleetVersion(doc), sha256: doc.sha256, appliedAt: clock.now(), publishedAt: doc.publishedAt };
    state.lastError = null;
    recomputeSync();
    state.applies++;
    rejected = null;
    log?.info({ instanceId, revision: doc.revision, version: fleetVersion(doc), lagMs: state.applied.appliedAt - doc.publishedAt }, 'fleet: table applied');
    opts.onApplied?.(doc).catch((err: unknown) => log?.warn({ instanceId, err: describe(err) }, 'fleet: could not keep a local copy of the table'));
  };

  /** One check: read the published revision, apply it when new. Serialised: concurrent calls share a run. */
  let running: Promise<void> | null = null;
  let again = false;
  /** A revision announced on the channel: saves the revision read (one round trip) on the common path. */
  let announced: number | null = null;
  const checkOnce = async () => {
    const hint = announced;
    announced = null;
    const revision = hint !== null && hint > (state.publishedRevision ?? 0) ? hint : await readRevision(redis);
    contact();
    state.publishedRevision = revision;
    const current = state.applied;
    if (revision > 0 && revision !== current?.revision && revision !== rejected?.revision) {
      const doc = await readPublished(redis);
      if (doc) state.publishedRevision = doc.revision; // the document is the truth (a hint may lag behind)
      recomputeSync();
      // Applied even when the content is unchanged: the live table then names the new revision too.
      if (doc && doc.revision !== current?.revision) await apply(doc);
      await heartbeat();
    }
  };
  const refresh = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await checkOnce();
        } catch (err) {
          if (err instanceof Error && err.name === 'PublishedTableError') {
            if (state.lastError?.message !== err.message) log?.error({ instanceId, err: err.message }, 'fleet: cannot read the published table');
            state.lastError = { revision: null, message: err.message, at: clock.now() };
          } else {
            lost(err);
          }
        }
        recomputeSync();
      } while (again && !closed);
    })().finally(() => {
      running = null;
    });
    return running;
  };

  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== FLEET_KEYS.channel || closed) return;
    const r = Number(message);
    if (Number.isInteger(r) && r > 0) announced = Math.max(announced ?? 0, r);
    void refresh();
  });
  // (Re)subscribed after a reconnect: something may have been published meanwhile.
  subscriber.on('ready', () => {
    if (!closed) void refresh();
  });
  subscriber.on('error', () => {});
  subscriber.subscribe(FLEET_KEYS.channel).catch((err: unknown) => lost(err));

  const timer = setInterval(() => {
    void refresh().then(async () => {
      if (closed || state.redis !== 'ok') return;
      try {
        await heartbeat();
      } catch (err) {
        lost(err);
        recomputeSync();
      }
    });
  }, pollMs);
  timer.unref();

  // Wait for the first check only briefly: with Redis away the process must not hang at start-up
  // (the gateway serves its first table meanwhile and the check goes on in the background).
  const first = refresh().then(async () => {
    if (state.redis === 'ok' && !closed) await heartbeat().catch(lost);
  });
  let waited: NodeJS.Timeout | undefined;
  await Promise.race([first, new Promise<void>((r) => (waited = setTimeout(r, opts.firstCheckWaitMs ?? 500)))]);
  clearTimeout(waited);

  return {
    status: () => ({ ...state, applied: state.applied && { ...state.applied }, lastError: state.lastError && { ...state.lastError } }),
    refresh,
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
      subscriber.disconnect();
    },
  };
}
