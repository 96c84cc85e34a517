import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { RelayConfigReader } from '../auth/relay-config.js';
import { silentNotifier, type AnomalyNotifier } from '../notify/notifier.js';
import { PgStore } from '../pg/store.js';
import type { Clock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { ApiKeyRepository } from '../storage/api-keys.js';
import { recoverTempErrorAccounts, resetErrorAccounts } from './claude-error-accounts.js';
import { sweepExpiredConcurrency } from './concurrency-sweep.js';
import { disableExpiredKeys } from './expired-keys.js';
import { applyMissingTtls } from './missing-ttls.js';
import { cleanupRateLimits, recoveryMessage } from './rate-limit-cleanup.js';
import { COST_RANK_PERIODS, rebuildCostRank, type CostRankRange } from './cost-rank.js';
import { sweepOrphanUserMessageLocks } from './user-message-locks.js';

/**
 * The legacy's background sweeps that keep the relay's Redis state healthy, run by each gateway process as each
 * legacy process runs them (src/app.js `startCleanupTasks`).
 *
 * Every minute:
 * - expired members of the `concurrency:*` lease sets removed, empty sets deleted (always);
 * - user-message queue locks without an expiry deleted (while `claude_relay_config.userMessageQueueEnabled`).
 *
 * Every `CLEANUP_INTERVAL` (the legacy's config.system.cleanupInterval, default an hour), first after one interval:
 * - expired API keys that are still active deactivated (expired-keys.ts);
 * - official Claude accounts in `error` for over 24 h reset to `created`, and those in `temp_error` for over 5 min
 *   made active again (claude-error-accounts.ts);
 * those three side by side, as the legacy's Promise.all; then
 * - a TTL given to `usage:daily:*`, `ratelimit:*`, `session:*`, `sticky_session:*` and `oauth:*` keys that have none
 *   (missing-ttls.ts).
 *
 * At start and every 5 minutes (the legacy's rateLimitCleanupService): official and Console accounts whose rate
 * limit or 5-hour stop has run out are made schedulable again, and a `rateLimitRecovery` webhook lists them
 * (rate-limit-cleanup.ts, five-hour-recovery.ts). OpenAI accounts are left to the legacy's processes.
 *
 * At start and then every 10 min / 30 min / 1 h / 2 h (the legacy's costRankService): the admin's cost ranking of the
 * keys (`cost_rank:today|7days|30days|all`) rebuilt, one process at a time per range (cost-rank.ts).
 *
 * Not reproduced (docs/claude-relay.md, "Known gaps"): the start-up deletion of every `user_msg_queue_lock:*` and
 * `concurrency:queue:*` counter, which in a fleet (or beside the legacy during the migration) would drop the
 * locks and queue counts other processes hold; every lock and queue counter carries a TTL, and the orphan sweep
 * removes a lock that has none within a minute.
 */
export interface MaintenanceDeps {
  redis: () => Redis;
  /** The PostgreSQL mirror (null: Redis only), for the hourly sweeps' key and account reads and writes. */
  pg?: () => Sql | null;
  clock: Clock;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void; info(obj: object, msg: string): void };
  intervalMs?: number;
  /** The hourly sweeps' period (default 3,600,000 ms). */
  hourlyIntervalMs?: number;
  /** The rate-limit cleanup's period (default 300,000 ms); it also runs once at start. */
  rateLimitIntervalMs?: number;
  /** Where the rate-limit recovery webhook goes (default: nowhere). */
  notifier?: () => AnomalyNotifier;
  /** Rebuild the cost ranks (default true; their periods are the legacy's). */
  costRank?: boolean;
}

export interface Maintenance {
  /** One pass of the minute sweeps (what their timer runs); a pass still running makes this one a no-op. */
  runOnce(): Promise<void>;
  /** One pass of the hourly sweeps (what their timer runs); likewise a no-op while one runs. */
  runHourly(): Promise<void>;
  /** One pass of the rate-limit cleanup (what its timer runs); likewise a no-op while one runs. */
  runRateLimitCleanup(): Promise<void>;
  /** One rebuild of a cost rank (what its timer runs). */
  rebuildCostRank(range: CostRankRange): Promise<void>;
  stop(): void;
}

/** The stores' warnings (pino's signature) into the maintenance log. */
const storeLog = (log: MaintenanceDeps['log']): Pick<Logger, 'warn'> =>
  ({ warn: (obj: unknown, msg?: string) => log.warn(typeof obj === 'object' && obj ? obj : { msg: obj }, msg ?? '') }) as Pick<Logger, 'warn'>;

interface SweepStores {
  redis: Redis;
  keys: ApiKeyRepository;
  accounts: AccountRepository;
  notifier: AnomalyNotifier;
}

/** The repositories of the hourly and 5-minute sweeps, built on first use from the runner's stores. */
function sweepStores(d: MaintenanceDeps): () => SweepStores {
  let built: SweepStores | null = null;
  return () => {
    const redis = d.redis();
    if (built?.redis === redis) return built;
    const pg = d.pg?.() ?? null;
    const log = storeLog(d.log);
    const pgStore = pg ? new PgStore(pg, d.clock, log) : null;
    built = {
      redis,
      keys: new ApiKeyRepository({ redis, clock: d.clock, log, pgStore }),
      accounts: new AccountRepository({ redis, clock: d.clock, pgStore }),
      notifier: built?.notifier ?? d.notifier?.() ?? silentNotifier,
    };
    return built;
  };
}

/** `pass` at most once at a time: a call while it runs is a no-op. */
function oneAtATime(pass: () => Promise<void>): () => Promise<void> {
  let running = false;
  return async () => {
    if (running) return;
    running = true;
    try {
      await pass();
    } finally {
      running = false;
    }
  };
}

export function startMaintenance(d: MaintenanceDeps): Maintenance {
  let config: RelayConfigReader | null = null;
  const runOnce = oneAtATime(async () => {
    const redis = d.redis();
    try {
      const deleted = await sweepExpiredConcurrency(redis, d.clock.now(), d.log);
      if (deleted > 0) d.log.info({ deleted }, 'concurrency cleanup: deleted expired lease sets');
    } catch (err) {
      d.log.error({ err: (err as Error).message }, 'concurrency cleanup failed');
    }
    try {
      config ??= new RelayConfigReader(redis, d.clock);
      if ((await config.get()).userMessageQueueEnabled === true) await sweepOrphanUserMessageLocks(redis, d.log);
    } catch (err) {
      d.log.error({ err: (err as Error).message }, 'user message queue: cleanup task error');
    }
  });

  const stores = sweepStores(d);
  const runHourly = oneAtATime(async () => {
    try {
      const s = stores();
      const now = d.clock.now();
      const [expiredKeys, errorAccounts, tempErrorAccounts] = await Promise.all([
        disableExpiredKeys(s.keys, now, d.log),
        resetErrorAccounts(s.accounts, now, d.log),
        recoverTempErrorAccounts(s.accounts, s.redis, now, d.log),
      ]);
      const ttlsSet = await applyMissingTtls(s.redis, d.log);
      d.log.info({ expiredKeys, errorAccounts, tempErrorAccounts, ttlsSet }, 'scheduled cleanup completed');
    } catch (err) {
      d.log.error({ err: (err as Error).message }, 'scheduled cleanup failed');
    }
  });

  const runRateLimitCleanup = oneAtATime(async () => {
    try {
      const s = stores();
      const now = d.clock.now();
      const r = await cleanupRateLimits({ redis: s.redis, accounts: s.accounts, nowMs: now, log: d.log, lockValue: () => `${d.clock.now()}_${Math.random()}` });
      const cleared = r.claude.cleared + r.claudeConsole.cleared;
      if (cleared > 0) {
        d.log.info({ claude: r.claude, claudeConsole: r.claudeConsole }, 'rate limit cleanup completed');
        if (r.cleared.length > 0) {
          const { message, platforms } = recoveryMessage(r.cleared);
          s.notifier.notify('rateLimitRecovery', {
            title: '限流恢复通知',
            message,
            totalAccounts: r.cleared.length,
            platforms,
            accounts: r.cleared,
            timestamp: new Date(d.clock.now()).toISOString(),
          });
        }
      }
    } catch (err) {
      d.log.error({ err: (err as Error).message }, 'rate limit cleanup failed');
    }
  });

  const costRank = async (range: CostRankRange): Promise<void> => {
    try {
      const s = stores();
      await rebuildCostRank(s.redis, s.keys, range, () => d.clock.now(), d.clock.timezoneOffsetHours, d.log);
    } catch (err) {
      d.log.error({ range, err: (err as Error).message }, 'cost rank update failed');
    }
  };
  const rankTimers = (d.costRank ?? true)
    ? COST_RANK_PERIODS.map(([range, period]) => setInterval(() => void costRank(range), period).unref())
    : [];
  if (d.costRank ?? true) {
    void (async () => {
      for (const [range] of COST_RANK_PERIODS) await costRank(range);
    })();
  }

  const timer = setInterval(() => void runOnce(), d.intervalMs ?? 60_000).unref();
  const rateLimits = setInterval(() => void runRateLimitCleanup(), d.rateLimitIntervalMs ?? 300_000).unref();
  void runRateLimitCleanup();
  const hourly = setInterval(() => void runHourly(), d.hourlyIntervalMs ?? 3_600_000).unref();
  return {
    runOnce,
    runHourly,
    runRateLimitCleanup,
    rebuildCostRank: costRank,
    stop: () => {
      clearInterval(timer);
      clearInterval(hourly);
      clearInterval(rateLimits);
      for (const t of rankTimers) clearInterval(t);
    },
  };
}
