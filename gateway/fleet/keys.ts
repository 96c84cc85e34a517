/**
 * The gateway fleet's own Redis keys (none of them is a legacy key: the legacy never reads or writes
 * `gateway:*`). Kept here, in one place, like the legacy keys in migrated/storage/keys.ts.
 */
export const FLEET_KEYS = {
  /** Hash: the published table: revision, table (JSON), sha256, tableVersion, publishedAt, publishedBy. */
  table: 'gateway:fleet:table',
  /** List (newest first, capped): previous published documents (JSON), for `publish --rollback`. */
  history: 'gateway:fleet:history',
  /** Hash: instanceId -> JSON heartbeat { instanceId, revision, appliedAt, heartbeatAt, ... }. */
  instances: 'gateway:fleet:instances',
  /** Pub/sub channel: message = the new revision number. */
  channel: 'gateway:fleet:published',
} as const;

export const HISTORY_LENGTH = 20;
