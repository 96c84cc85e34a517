import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { backgroundRefresh } from '../storage/background-refresh.js';
import { CachedJsonConfig } from '../storage/cached-json-config.js';
import { keys } from '../storage/keys.js';

/**
 * The two Redis reads of the proxy policy, cached as the legacy caches them (one cache per relay
 * services instance; the legacy's is per process):
 *
 * - `proxy_policy_config` (proxyPolicyService.getConfig): the whole config, 60 s from the end of the
 *   read. An absent key is cached as the empty default; a failed read or unparsable JSON gives the
 *   default and is not cached (the next call reads again).
 * - the account-group snapshot (accountGroupService._getGroupsSnapshot): `account_groups`, then every
 *   group's hash and member set in one pipeline; all groups, not per account; 2 s from the start of
 *   the read. An empty `account_groups` is cached; a failed SMEMBERS / pipeline throws and is not
 *   cached; a failed command inside the pipeline counts as an empty hash / member set, and is cached.
 *
 * The legacy drops these caches when its own admin API writes the config or a group; the gateway
 * does not write them (admin writes go to the legacy), so here they only expire. No single-flight:
 * concurrent misses each read, as in the legacy. Both refresh ahead in the second half of their lifetime
 * (one background read at a time), so no answer is older than the legacy's and steady traffic never waits.
 */
export interface PolicyConfig {
  globalAccountProxy?: unknown;
  platformProxies?: unknown;
  [field: string]: unknown;
}

export interface GroupsSnapshot {
  /** `account_groups` members, in SMEMBERS order. */
  groupIds: string[];
  /** `account_group:<id>` hashes ({} when absent or unreadable). */
  data: Map<string, Record<string, string>>;
  /** `account_group_members:<id>` sets (empty when absent or unreadable). */
  members: Map<string, Set<string>>;
}

export interface ProxyPolicyTtls {
  configMs: number;
  groupsMs: number;
}

/** CONFIG_CACHE_TTL (60000) and _getGroupsSnapshot's default cacheTtlMs (2000). */
export const LEGACY_PROXY_POLICY_TTLS: ProxyPolicyTtls = { configMs: 60_000, groupsMs: 2_000 };

const defaultConfig = (): PolicyConfig => ({ globalAccountProxy: null, platformProxies: {}, updatedAt: null, updatedBy: null });

export class ProxyPolicyCache {
  private readonly cfg: CachedJsonConfig<PolicyConfig>;
  private snapshot: GroupsSnapshot | null = null;
  private snapshotExpiresAt = 0;
  /** A failed refresh keeps the snapshot until it expires; the next miss reads (and throws) in the request. */
  private readonly refreshGroupsAhead = backgroundRefresh(() => this.loadGroups());

  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly ttls: ProxyPolicyTtls = LEGACY_PROXY_POLICY_TTLS,
  ) {
    this.cfg = new CachedJsonConfig(redis, clock, { key: keys.proxyPolicyConfig(), defaults: defaultConfig, ttlMs: ttls.configMs, stampAt: 'read-end' });
  }

  config(): Promise<PolicyConfig> {
    return this.cfg.get();
  }

  /** The cached config while it is fresh (what config() would answer without reading), else null. */
  freshConfig(): PolicyConfig | null {
    return this.cfg.fresh();
  }

  /**
   * The group snapshot while it is fresh, else null. A snapshot used in the second half of its lifetime is
   * read again in the background (as CachedJsonConfig refreshes ahead): no answer is older than the legacy's
   * 2 s, and steady traffic does not wait for the read at expiry.
   */
  freshGroups(): GroupsSnapshot | null {
    const now = this.clock.now();
    if (!this.snapshot || this.snapshotExpiresAt <= now) return null;
    if (this.snapshotExpiresAt - now <= this.ttls.groupsMs / 2) this.refreshGroupsAhead();
    return this.snapshot;
  }

  async groups(): Promise<GroupsSnapshot> {
    return this.freshGroups() ?? this.loadGroups();
  }

  private async loadGroups(): Promise<GroupsSnapshot> {
    const start = this.clock.now();
    const snapshot = await this.readGroups();
    this.snapshot = snapshot;
    this.snapshotExpiresAt = start + this.ttls.groupsMs;
    return snapshot;
  }

  private async readGroups(): Promise<GroupsSnapshot> {
    const groupIds = await this.redis.smembers(keys.accountGroups());
    const snapshot: GroupsSnapshot = { groupIds, data: new Map(), members: new Map() };
    if (groupIds.length === 0) return snapshot;
    const pipe = this.redis.pipeline();
    for (const id of groupIds) {
      pipe.hgetall(keys.accountGroup(id));
      pipe.smembers(keys.accountGroupMembers(id));
    }
    const results = (await pipe.exec()) ?? [];
    groupIds.forEach((id, i) => {
      const hash = results[i * 2]?.[1];
      const members = results[i * 2 + 1]?.[1];
      snapshot.data.set(id, hash && typeof hash === 'object' ? (hash as Record<string, string>) : {});
      snapshot.members.set(id, new Set(Array.isArray(members) ? (members as string[]) : []));
    });
    return snapshot;
  }
}
