import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import { RelayConfigReader } from '../auth/relay-config.js';
import { PgStore } from '../pg/store.js';
import type { Clock } from '../runtime/clock.js';
import { AccountRepository } from '../storage/accounts.js';
import { ApiKeyRepository } from '../storage/api-keys.js';
import { recoverTempErrorAccounts, resetErrorAccounts } from './claude-error-accounts.js';
import { sweepExpiredConcurrency } from './concurrency-sweep.js';
import { disableExpiredKeys } from './expired-keys.js';
import { applyMissingTtls } from './missing-ttls.js';
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
 * Not reproduced (docs/claude-relay.md, "Known gaps"): the start-up deletion of every `user_msg_queue_lock:*` and
 * `concurrency:queue:*` counter, which in a fleet (or beside the legacy during the migration) would drop the
 * locks and queue counts other processes hold; every lock and queue counter carries a TTL, and the orphan sweep
 * removes a lock that has none within a minute. Nor the 5-minute rate-limit cleanup service.
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
}

export interface Maintenance {
  /** One pass of the minute sweeps (what their timer runs); a pass still running makes this one a no-op. */
  runOnce(): Promise<void>;
  /** One pass of the hourly sweeps (what their timer runs); likewise a no-op while one runs. */
  runHourly(): Promise<void>;
  stop(): void;
}

/** The stores' warnings (pino's signature) into the maintenance log. */
const storeLog = (log: MaintenanceDeps['log']): Pick<Logger, 'warn'> =>
  ({ warn: (obj: unknown, msg?: string) => log.warn(typeof obj === 'object' && obj ? obj : { msg: obj }, msg ?? '') }) as Pick<Logger, 'warn'>;

/** The repositories of the hourly sweeps, built on first use from the runner's stores. */
function hourlyStores(d: MaintenanceDeps): () => { redis: Redis; keys: ApiKeyRepository; accounts: AccountRepository } {
  let built: { redis: Redis; keys: ApiKeyRepository; accounts: AccountRepository } | null = null;
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
    };
    return built;
  };
}

export function startMaintenance(d: MaintenanceDeps): Maintenance {
  let config: RelayConfigReader | null = null;
  let running = false;
  const runOnce = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
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
    } finally {
      running = false;
    }
  };

  const stores = hourlyStores(d);
  let hourlyRunning = false;
  const runHourly = async (): Promise<void> => {
    if (hourlyRunning) return;
    hourlyRunning = true;
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
    } finally {
      hourlyRunning = false;
    }
  };

  const timer = setInterval(() => void runOnce(), d.intervalMs ?? 60_000).unref();
  const hourly = setInterval(() => void runHourly(), d.hourlyIntervalMs ?? 3_600_000).unref();
  return {
    runOnce,
    runHourly,
    stop: () => {
      clearInterval(timer);
      clearInterval(hourly);
    },
  };
}
