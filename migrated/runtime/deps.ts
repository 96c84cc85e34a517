import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Sql } from 'postgres';
import type { GatewayConfig } from '../../gateway/config/env.js';
import type { AccountNameSource } from '../storage/account-names.js';
import type { Clock } from './clock.js';
import type { IdSource } from './ids.js';

/**
 * Everything a migrated module may touch from outside, handed in at construction.
 * The gateway builds one set for production; a shadow candidate gets the same set with
 * `redis`/`pg` pointing at a sandbox and `upstreamBaseUrl`/fetch going through the tap; the
 * compatibility replayer gets a frozen clock, scripted ids and a private Redis.
 */
export interface MigratedDeps {
  config: GatewayConfig;
  redis: Redis;
  /** PostgreSQL dual-write target, when POSTGRES_ENABLED (null otherwise). */
  pg: Sql | null;
  clock: Clock;
  ids: IdSource;
  log: Logger;
  /**
   * Where upstream calls go. Undefined: the real providers (per account settings).
   * Set in replays and shadow candidates to a mock / tap origin that stands in for every
   * provider host (the module keeps the path, method, headers and body it would have sent).
   */
  upstreamOverride?: string | undefined;
  /**
   * Account-anomaly webhooks (migrated/notify). Default on; false for shadow candidates (the primary has
   * already notified, and their Redis overlay carries production's webhook config) and compat replays.
   */
  webhooks?: boolean;
  /**
   * Account key names kept current by Redis invalidations (storage/account-names.ts), for listings without a SCAN
   * of the keyspace. Only for `redis` itself: a deps set with another Redis (a shadow sandbox, a replay) has none.
   */
  accountNames?: AccountNameSource | null;
}
