import type { Redis } from 'ioredis';
import { RelayConfigReader } from '../auth/relay-config.js';
import type { Clock } from '../runtime/clock.js';
import { sweepExpiredConcurrency } from './concurrency-sweep.js';
import { sweepOrphanUserMessageLocks } from './user-message-locks.js';

/**
 * The legacy's background sweeps that keep the relay's Redis state healthy, run by each gateway process as each
 * legacy process runs them (src/app.js `startCleanupTasks`), every minute:
 * - expired members of the `concurrency:*` lease sets removed, empty sets deleted (always);
 * - user-message queue locks without an expiry deleted (while `claude_relay_config.userMessageQueueEnabled`).
 * Not reproduced (docs/claude-relay.md, "Known gaps"): the start-up deletion of every `user_msg_queue_lock:*` and
 * `concurrency:queue:*` counter, which in a fleet (or beside the legacy during the migration) would drop the
 * locks and queue counts other processes hold; every lock and queue counter carries a TTL, and the orphan sweep
 * removes a lock that has none within a minute.
 */
export interface MaintenanceDeps {
  redis: () => Redis;
  clock: Clock;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void; info(obj: object, msg: string): void };
  intervalMs?: number;
}

export interface Maintenance {
  /** One pass of every sweep (what the timer runs); a pass still running makes this one a no-op. */
  runOnce(): Promise<void>;
  stop(): void;
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
  const timer = setInterval(() => void runOnce(), d.intervalMs ?? 60_000).unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
