import type { Redis } from 'ioredis';
import * as v from 'valibot';
import { FLEET_KEYS } from './keys.js';
import { fleetVersion, readPublished } from './published-table.js';

/**
 * Heartbeats of the fleet's instances (hash gateway:fleet:instances, one JSON field per instance) and the
 * fleet view built from them: which revision each instance runs, who lags, who is silent.
 */

export const HeartbeatSchema = v.object({
  instanceId: v.string(),
  host: v.string(),
  pid: v.number(),
  revision: v.nullable(v.number()),
  version: v.nullable(v.string()),
  sha256: v.nullable(v.string()),
  appliedAt: v.nullable(v.number()),
  heartbeatAt: v.number(),
  startedAt: v.number(),
  lastError: v.nullable(v.string()),
});
export type Heartbeat = v.InferOutput<typeof HeartbeatSchema>;

export async function writeHeartbeat(redis: Redis, hb: Heartbeat): Promise<void> {
  await redis.hset(FLEET_KEYS.instances, hb.instanceId, JSON.stringify(hb));
}

export async function removeInstance(redis: Redis, instanceId: string): Promise<void> {
  await redis.hdel(FLEET_KEYS.instances, instanceId);
}

export type InstanceState = 'in-sync' | 'behind' | 'error' | 'silent';

export interface InstanceView extends Heartbeat {
  state: InstanceState;
  /** ms since its last heartbeat. */
  silentForMs: number;
}

export interface FleetView {
  published: { revision: number; version: string; publishedAt: number; publishedBy: string } | null;
  instances: InstanceView[];
  /** Every live instance runs the published revision. */
  converged: boolean;
  /** Entries that could not be read (damaged JSON), by field name. */
  unreadable: string[];
}

/**
 * Read the fleet. An instance is `silent` when it has not heartbeated for `silentAfterMs` (dead, or cut off
 * from Redis); `error` when it rejected the latest revision; `behind` when it runs an older one.
 */
export async function readFleet(redis: Redis, now: number, silentAfterMs = 5_000): Promise<FleetView> {
  const [published, raw] = await Promise.all([readPublished(redis).catch(() => null), redis.hgetall(FLEET_KEYS.instances)]);
  const instances: InstanceView[] = [];
  const unreadable: string[] = [];
  for (const [field, text] of Object.entries(raw)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      unreadable.push(field);
      continue;
    }
    const r = v.safeParse(HeartbeatSchema, parsed);
    if (!r.success) {
      unreadable.push(field);
      continue;
    }
    const hb = r.output;
    const silentForMs = now - hb.heartbeatAt;
    const state: InstanceState =
      silentForMs > silentAfterMs
        ? 'silent'
        : !published || hb.revision === published.revision
          ? 'in-sync'
          : hb.lastError
            ? 'error'
            : 'behind';
    instances.push({ ...hb, state, silentForMs });
  }
  instances.sort((a, b) => a.instanceId.localeCompare(b.instanceId));
  const live = instances.filter((i) => i.state !== 'silent');
  return {
    published: published && {
      revision: published.revision,
      version: fleetVersion(published),
      publishedAt: published.publishedAt,
      publishedBy: published.publishedBy,
    },
    instances,
    converged: live.length > 0 && live.every((i) => i.state === 'in-sync'),
    unreadable,
  };
}

/** Drop heartbeats older than `olderThanMs` (instances gone for good). Returns the ids removed. */
export async function pruneSilent(redis: Redis, now: number, olderThanMs: number): Promise<string[]> {
  const view = await readFleet(redis, now, olderThanMs);
  const gone = view.instances.filter((i) => i.state === 'silent').map((i) => i.instanceId);
  if (gone.length) await redis.hdel(FLEET_KEYS.instances, ...gone);
  return gone;
}
