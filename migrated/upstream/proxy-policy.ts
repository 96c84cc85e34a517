import type { GroupsSnapshot, PolicyConfig, ProxyPolicyCache } from './proxy-policy-cache.js';
import { parseProxy, proxyObject, type ProxyConfig } from './proxy.js';

/**
 * The legacy's effective-proxy resolution (proxyPolicyService.resolveEffectiveProxyConfig):
 * account proxy, else the best proxy of the account's groups on the same platform
 * (lowest proxyPriority, then newest updatedAt, then newest createdAt), else the
 * platform proxy of `proxy_policy_config`, else its global account proxy, else direct.
 * A candidate counts only when it passes the legacy's proxy check (type socks5|http|https,
 * host, port 1..65535); anything else falls through to the next level. Last comes the process-wide
 * fallback of ProxyHelper.createProxyAgentWithFallback (GLOBAL_PROXY_* env, `envFallback`).
 */
export type ProxySource = 'account' | 'group' | 'platform' | 'global' | 'env' | 'none';

export interface ProxyResolution {
  proxy: ProxyConfig | null;
  source: ProxySource;
  platform: string | null;
  groupId?: string | null;
}

export interface ProxyLookup {
  accountId: string;
  platform: string | undefined;
  accountProxy: unknown;
  /** The GLOBAL_PROXY_* proxy (globalEnvProxy), used when nothing else applies. */
  envFallback?: ProxyConfig | null | undefined;
}

/** The GLOBAL_PROXY_* settings (gateway/config/env.ts). */
export interface GlobalProxyEnv {
  GLOBAL_PROXY_TYPE?: string | undefined;
  GLOBAL_PROXY_HOST?: string | undefined;
  GLOBAL_PROXY_PORT?: string | undefined;
  GLOBAL_PROXY_USERNAME?: string | undefined;
  GLOBAL_PROXY_PASSWORD?: string | undefined;
}

/**
 * ProxyHelper.getGlobalProxyConfig + the checks createProxyAgent makes on it: TYPE, HOST and PORT
 * all set; type lower-cased and one of socks5 / http / https; port = parseInt(PORT), non-zero.
 * Credentials are used only when both USERNAME and PASSWORD are set. Anything else: no fallback.
 */
export function globalEnvProxy(env: GlobalProxyEnv): ProxyConfig | null {
  const type = env.GLOBAL_PROXY_TYPE?.toLowerCase();
  const host = env.GLOBAL_PROXY_HOST;
  if (!type || !host || !env.GLOBAL_PROXY_PORT) return null;
  const port = Number.parseInt(env.GLOBAL_PROXY_PORT, 10);
  if (!port || (type !== 'socks5' && type !== 'http' && type !== 'https')) return null;
  const auth = env.GLOBAL_PROXY_USERNAME && env.GLOBAL_PROXY_PASSWORD ? { username: env.GLOBAL_PROXY_USERNAME, password: env.GLOBAL_PROXY_PASSWORD } : {};
  return { type, host, port, ...auth };
}

/**
 * ProxyHelper.createProxyAgentWithFallback applied to a stored account proxy, for the relays that call
 * it directly rather than through proxyPolicyService (the CCR relay): a stored value that is there
 * (non-empty, not JSON `null`) is the proxy — used when valid, else none, with no fallback;
 * only an account without one falls back to GLOBAL_PROXY_* (`envFallback`).
 */
export function accountProxyWithEnvFallback(stored: unknown, envFallback: ProxyConfig | null | undefined): ProxyConfig | null {
  return hasStoredProxy(stored) ? parseProxy(stored) : (envFallback ?? null);
}

/** Truthy after the account services' JSON.parse of the stored text (unparsable text counts as there). */
function hasStoredProxy(stored: unknown): boolean {
  if (!stored) return false;
  if (typeof stored !== 'string') return true;
  try {
    return !!JSON.parse(stored);
  } catch {
    return true;
  }
}

/** The legacy's platform families: claude*, gemini*, openai*|azure-openai, droid, bedrock, ccr; others lower-cased. */
export function normalizePlatform(platform: unknown): string | null {
  if (!platform || typeof platform !== 'string') return null;
  const lower = platform.toLowerCase();
  if (lower.startsWith('claude')) return 'claude';
  if (lower.startsWith('gemini')) return 'gemini';
  if (lower === 'azure-openai' || lower.startsWith('openai')) return 'openai';
  return lower;
}

/** The legacy's proxy check: type, host and port present; type socks5|http|https; parseInt(port) in 1..65535. */
export function isUsableProxy(raw: unknown): boolean {
  const p = proxyObject(raw);
  if (!p || !p['type'] || !p['host'] || !p['port']) return false;
  if (!['socks5', 'http', 'https'].includes(p['type'] as string)) return false;
  const port = Number.parseInt(String(p['port']), 10);
  return !Number.isNaN(port) && port >= 1 && port <= 65535;
}

function priority(value: unknown): number {
  if (value === null || value === undefined || value === '') return 100;
  const n = Number.parseInt(String(value), 10);
  return Number.isFinite(n) ? n : 100;
}

const time = (value: unknown): number => (typeof value === 'string' && Date.parse(value)) || 0;

interface GroupCandidate {
  id: string | null;
  proxy: Record<string, unknown>;
  priority: number;
  updatedAt: number;
  createdAt: number;
}

/**
 * The account's groups on `platform` that carry a usable proxy (accountGroupService.getAccountGroupsMap
 * over the cached snapshot): a group counts when its hash is non-empty, its `platform` matches and the
 * account is in its member set. The id reported is the hash's `id` field, as the legacy's `group.id`.
 */
function groupCandidates(snapshot: GroupsSnapshot, accountId: string, platform: string): GroupCandidate[] {
  const out: GroupCandidate[] = [];
  for (const id of snapshot.groupIds) {
    const group = snapshot.data.get(id) ?? {};
    if (Object.keys(group).length === 0 || group['platform'] !== platform || !snapshot.members.get(id)?.has(accountId)) continue;
    const proxy = proxyObject(group['proxy']);
    if (!proxy || !isUsableProxy(proxy)) continue;
    out.push({ id: group['id'] || null, proxy, priority: priority(group['proxyPriority']), updatedAt: time(group['updatedAt']), createdAt: time(group['createdAt']) });
  }
  return out;
}

function bestGroup(candidates: GroupCandidate[]): GroupCandidate | undefined {
  return [...candidates].sort(
    (a, b) => a.priority - b.priority || b.updatedAt - a.updatedAt || b.createdAt - a.createdAt,
  )[0];
}

/** `policy` caches the group snapshot (2 s) and `proxy_policy_config` (60 s) like the legacy (proxy-policy-cache.ts). */
export async function resolveEffectiveProxy(policy: ProxyPolicyCache, lookup: ProxyLookup): Promise<ProxyResolution> {
  const platform = normalizePlatform(lookup.platform);
  if (isUsableProxy(lookup.accountProxy)) return accountLevel(lookup, platform);
  if (lookup.accountId && platform) {
    try {
      const best = groupLevel(await policy.groups(), lookup.accountId, platform);
      if (best) return best;
    } catch {
      // the legacy logs and falls back to the platform / global proxy
    }
  }
  return configLevel(await policy.config(), lookup, platform);
}

/**
 * The same resolution without waiting, when every cache it consults is fresh; null when one would have to be
 * read (then use resolveEffectiveProxy). Saves a streamed request's critical path the async steps (~0.05 ms
 * cold) on all but the one request per cache period that refreshes.
 */
export function resolveEffectiveProxyNow(policy: ProxyPolicyCache, lookup: ProxyLookup): ProxyResolution | null {
  const platform = normalizePlatform(lookup.platform);
  if (isUsableProxy(lookup.accountProxy)) return accountLevel(lookup, platform);
  if (lookup.accountId && platform) {
    const groups = policy.freshGroups();
    if (!groups) return null;
    const best = groupLevel(groups, lookup.accountId, platform);
    if (best) return best;
  }
  const cfg = policy.freshConfig();
  return cfg ? configLevel(cfg, lookup, platform) : null;
}

const accountLevel = (lookup: ProxyLookup, platform: string | null): ProxyResolution => ({ proxy: parseProxy(lookup.accountProxy), source: 'account', platform });

function groupLevel(groups: GroupsSnapshot, accountId: string, platform: string): ProxyResolution | null {
  const best = bestGroup(groupCandidates(groups, accountId, platform));
  return best ? { proxy: parseProxy(best.proxy), source: 'group', platform, groupId: best.id } : null;
}

function configLevel(cfg: PolicyConfig, lookup: ProxyLookup, platform: string | null): ProxyResolution {
  const platformProxy = cfg.platformProxies && typeof cfg.platformProxies === 'object' ? (cfg.platformProxies as Record<string, unknown>)[String(platform)] : null;
  if (isUsableProxy(platformProxy)) return { proxy: parseProxy(platformProxy), source: 'platform', platform };
  if (isUsableProxy(cfg.globalAccountProxy)) return { proxy: parseProxy(cfg.globalAccountProxy), source: 'global', platform };
  if (lookup.envFallback) return { proxy: lookup.envFallback, source: 'env', platform };
  return { proxy: null, source: 'none', platform };
}
