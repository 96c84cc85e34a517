import type { Clock } from '../runtime/clock.js';

/**
 * THE one place that knows the legacy's Redis key names (claude-relay-service @ b565610a,
 * contract: legacy-contract/redis-keys.md) and the time buckets used inside them.
 * Nothing else in the project builds key strings: import `keys` and the bucket helpers.
 *
 * Model names, account ids and dates are used verbatim (model names may contain `[1m]`, `/`, `.`).
 */

// ---------------------------------------------------------------------------------------
// Time buckets (src/models/redis.js getDateInTimezone / getDateStringInTimezone /
// getHourInTimezone / getWeekStringInTimezone). "Zone instant" = epoch ms + offset h, read
// with UTC getters. The offset is the config's `parseInt(TIMEZONE_OFFSET) || 8`, and the
// helper applies `|| 8` again, so 0 means +8.
// ---------------------------------------------------------------------------------------

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** The legacy's effective offset: `offset || 8`. */
export function effectiveOffsetHours(offsetHours: number): number {
  return offsetHours || 8;
}

function zoneInstant(epochMs: number, offsetHours: number): Date {
  return new Date(epochMs + effectiveOffsetHours(offsetHours) * 3_600_000);
}

/** `YYYY-MM-DD` in the offset zone. */
export function dateString(epochMs: number, offsetHours: number): string {
  const t = zoneInstant(epochMs, offsetHours);
  return `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}-${pad2(t.getUTCDate())}`;
}

/** `YYYY-MM` in the offset zone. */
export function monthString(epochMs: number, offsetHours: number): string {
  const t = zoneInstant(epochMs, offsetHours);
  return `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}`;
}

/** `YYYY-MM-DD:HH` in the offset zone. */
export function hourString(epochMs: number, offsetHours: number): string {
  const t = zoneInstant(epochMs, offsetHours);
  return `${dateString(epochMs, offsetHours)}:${pad2(t.getUTCHours())}`;
}

/**
 * `YYYY-Www`, the legacy's NOT-ISO week (quirk: calendar year of the zone instant, and the
 * year start is the *process-local* midnight of Jan 1, so the result depends on process TZ).
 */
export function weekString(epochMs: number, offsetHours: number): string {
  const t = zoneInstant(epochMs, offsetHours);
  const year = t.getUTCFullYear();
  const dayOfWeek = t.getUTCDay() || 7;
  const thursday = new Date(t.getTime());
  thursday.setUTCDate(t.getUTCDate() + 4 - dayOfWeek);
  const yearStart = new Date(thursday.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((thursday.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${year}-W${pad2(week)}`;
}

/** Plain UTC epoch minute (independent of the offset), used by system:metrics:minute:*. */
export function epochMinute(epochMs: number): number {
  return Math.floor(epochMs / 60_000);
}

export interface Buckets {
  /** `YYYY-MM-DD` */
  date: string;
  /** `YYYY-MM` */
  month: string;
  /** `YYYY-MM-DD:HH` */
  hour: string;
}

/** Date, month and hour from ONE instant (what incrementTokenUsage / incrementAccountUsage do). */
export function bucketsAt(epochMs: number, offsetHours: number): Buckets {
  return {
    date: dateString(epochMs, offsetHours),
    month: monthString(epochMs, offsetHours),
    hour: hourString(epochMs, offsetHours),
  };
}

/**
 * bucketsAt with the last result kept (one per recorder: a memo table of a pure function). All three
 * depend only on the zone instant's hour, so the last result is handed out again (frozen: the same
 * object) for instants in the same zone hour.
 */
export class BucketsMemo {
  private last: { zoneHour: number; offsetHours: number; buckets: Readonly<Buckets> } | null = null;

  at(epochMs: number, offsetHours: number): Buckets {
    const zoneHour = Math.floor((epochMs + effectiveOffsetHours(offsetHours) * 3_600_000) / 3_600_000);
    const last = this.last;
    if (last !== null && last.zoneHour === zoneHour && last.offsetHours === offsetHours) return last.buckets;
    const buckets = Object.freeze(bucketsAt(epochMs, offsetHours));
    this.last = { zoneHour, offsetHours, buckets };
    return buckets;
  }
}

/** Buckets of the clock's current instant. */
export function nowBuckets(clock: Clock): Buckets {
  return bucketsAt(clock.now(), clock.timezoneOffsetHours);
}

// ---------------------------------------------------------------------------------------
// Normalized model name (src/models/redis.js _normalizeModelName)
// ---------------------------------------------------------------------------------------

/**
 * Model name as used in usage keys: Bedrock-style ids (`*.anthropic.*`, `*.claude*`) lose the
 * region prefix, the `anthropic.` part and a trailing `-vN:N`; others lose `-vN:N` or `:latest`.
 */
export function normalizeModelName(model: string): string {
  if (!model || model === 'unknown') return model;
  if (model.includes('.anthropic.') || model.includes('.claude')) {
    let n = model;
    n = n.replace(/^[a-z0-9-]+\./, '');
    n = n.replace('anthropic.', '');
    n = n.replace(/-v\d+:\d+$/, '');
    return n;
  }
  return model.replace(/-v\d+:\d+$|:latest$/, '');
}

// ---------------------------------------------------------------------------------------
// Key names
// ---------------------------------------------------------------------------------------

/** Account type names the legacy uses in key families (see accountHashKey). */
export type AccountKind =
  | 'claude'
  | 'claude-console'
  | 'openai'
  | 'openai-responses'
  | 'azure-openai'
  | 'gemini'
  | 'gemini-api'
  | 'bedrock'
  | 'droid'
  | 'ccr';

const accountPrefix: Record<AccountKind, string> = {
  claude: 'claude:account:',
  'claude-console': 'claude_console_account:',
  openai: 'openai:account:',
  'openai-responses': 'openai_responses_account:',
  'azure-openai': 'azure_openai:account:',
  gemini: 'gemini_account:',
  'gemini-api': 'gemini_api_account:',
  bedrock: 'bedrock_account:',
  droid: 'droid:account:',
  ccr: 'ccr_account:',
};

/** The "shared accounts" SET per type (null: the type has none). */
const sharedSet: Record<AccountKind, string | null> = {
  claude: null,
  'claude-console': 'shared_claude_console_accounts',
  openai: 'shared_openai_accounts',
  'openai-responses': 'shared_openai_responses_accounts',
  'azure-openai': 'shared_azure_openai_accounts',
  gemini: 'shared_gemini_accounts',
  'gemini-api': 'shared_gemini_api_accounts',
  bedrock: null,
  droid: null,
  ccr: 'shared_ccr_accounts',
};

export const keys = {
  // ---- API keys (redis-keys.md §2)
  /** HASH, TTL 365 d re-applied on every save. */
  apiKey: (keyId: string) => `apikey:${keyId}`,
  /** HASH sha256(raw+ENCRYPTION_KEY) -> keyId, no TTL. */
  apiKeyHashMap: () => 'apikey:hash_map',
  /** Old-prefix API key hash (read / delete only). */
  apiKeyLegacy: (keyId: string) => `api_key:${keyId}`,
  /** HASH `id,name,isActive` written only by restore. */
  apiKeyHashEntry: (hashedKey: string) => `apikey_hash:${hashedKey}`,
  apiKeyPattern: () => 'apikey:*',

  // ---- Usage per API key (§3)
  usageTotal: (keyId: string) => `usage:${keyId}`,
  usageDaily: (keyId: string, date: string) => `usage:daily:${keyId}:${date}`,
  usageMonthly: (keyId: string, month: string) => `usage:monthly:${keyId}:${month}`,
  usageHourly: (keyId: string, hour: string) => `usage:hourly:${keyId}:${hour}`,
  usageKeyModelDaily: (keyId: string, model: string, date: string) => `usage:${keyId}:model:daily:${model}:${date}`,
  usageKeyModelMonthly: (keyId: string, model: string, month: string) => `usage:${keyId}:model:monthly:${model}:${month}`,
  usageKeyModelHourly: (keyId: string, model: string, hour: string) => `usage:${keyId}:model:hourly:${model}:${hour}`,
  usageModelDaily: (model: string, date: string) => `usage:model:daily:${model}:${date}`,
  usageModelMonthly: (model: string, month: string) => `usage:model:monthly:${model}:${month}`,
  usageModelHourly: (model: string, hour: string) => `usage:model:hourly:${model}:${hour}`,
  systemMetricsMinute: (minute: number) => `system:metrics:minute:${minute}`,
  usageRecords: (keyId: string) => `usage:records:${keyId}`,

  // ---- Cost (§4)
  costDaily: (keyId: string, date: string) => `usage:cost:daily:${keyId}:${date}`,
  costMonthly: (keyId: string, month: string) => `usage:cost:monthly:${keyId}:${month}`,
  costHourly: (keyId: string, hour: string) => `usage:cost:hourly:${keyId}:${hour}`,
  costTotal: (keyId: string) => `usage:cost:total:${keyId}`,
  opusWeekly: (keyId: string, week: string) => `usage:opus:weekly:${keyId}:${week}`,
  opusTotal: (keyId: string) => `usage:opus:total:${keyId}`,
  costRank: (range: 'today' | '7days' | '30days' | 'all') => `cost_rank:${range}`,
  costRankTemp: (range: string, epochMs: number) => `cost_rank:${range}:temp:${epochMs}`,
  costRankMeta: (range: string) => `cost_rank_meta:${range}`,
  costRankLock: (range: string) => `cost_rank_lock:${range}`,

  // ---- Usage per upstream account (§5)
  accountUsageTotal: (accountId: string) => `account_usage:${accountId}`,
  accountUsageDaily: (accountId: string, date: string) => `account_usage:daily:${accountId}:${date}`,
  accountUsageMonthly: (accountId: string, month: string) => `account_usage:monthly:${accountId}:${month}`,
  accountUsageHourly: (accountId: string, hour: string) => `account_usage:hourly:${accountId}:${hour}`,
  accountUsageModelDaily: (accountId: string, model: string, date: string) =>
    `account_usage:model:daily:${accountId}:${model}:${date}`,
  accountUsageModelMonthly: (accountId: string, model: string, month: string) =>
    `account_usage:model:monthly:${accountId}:${model}:${month}`,
  accountUsageModelHourly: (accountId: string, model: string, hour: string) =>
    `account_usage:model:hourly:${accountId}:${model}:${hour}`,
  /** Field name inside account_usage:hourly:* for per-model counters. */
  accountHourlyModelField: (model: string, field: string) => `model:${model}:${field}`,

  // ---- Billing (§6)
  billingEvents: () => 'billing:events',

  // ---- Rate limits (§7)
  rateLimitWindowStart: (keyId: string) => `rate_limit:window_start:${keyId}`,
  rateLimitRequests: (keyId: string) => `rate_limit:requests:${keyId}`,
  rateLimitTokens: (keyId: string) => `rate_limit:tokens:${keyId}`,
  rateLimitCost: (keyId: string) => `rate_limit:cost:${keyId}`,
  loginIpLimiter: (ip: string) => `login_ip_limiter:${ip}`,
  loginIpStrict: (ip: string) => `login_ip_strict:${ip}`,

  // ---- Fuel packs (§8)
  fuelCodeMap: () => 'fuelpack:code_map',
  fuelCode: (codeId: string) => `fuelpack:code:${codeId}`,
  fuelCodesIndex: (which: 'all' | 'unused' | 'used' | 'deleted') => `fuelpack:codes:index:${which}`,
  fuelWalletIndex: (keyId: string) => `fuelpack:wallet:index:${keyId}`,
  fuelWalletEntryPrefix: () => 'fuelpack:wallet:entry:',
  fuelWalletEntry: (entryId: string) => `fuelpack:wallet:entry:${entryId}`,
  fuelUsedDaily: (keyId: string, date: string) => `fuelpack:used:daily:${keyId}:${date}`,
  fuelUsedTotal: (keyId: string) => `fuelpack:used:total:${keyId}`,

  // ---- Upstream accounts (§9)
  account: (kind: AccountKind, id: string) => `${accountPrefix[kind]}${id}`,
  accountPattern: (kind: AccountKind) => `${accountPrefix[kind]}*`,
  accountPrefix: (kind: AccountKind) => accountPrefix[kind],
  sharedAccounts: (kind: AccountKind) => sharedSet[kind],
  accountGroups: () => 'account_groups',
  accountGroup: (groupId: string) => `account_group:${groupId}`,
  accountGroupMembers: (groupId: string) => `account_group_members:${groupId}`,

  // ---- Account health (§10)
  claudeAccount401Errors: (accountId: string) => `claude_account:${accountId}:401_errors`,
  claudeAccount5xxErrors: (accountId: string) => `claude_account:${accountId}:5xx_errors`,
  accountRateLimit: (accountId: string) => `ratelimit:${accountId}`,
  accountOverload: (accountId: string) => `account:overload:${accountId}`,
  tempUnavailable: (accountType: string, accountId: string) => `temp_unavailable:${accountType}:${accountId}`,
  claudeCodeHeaders: (accountId: string) => `claude_code_headers:${accountId}`,
  claudeCodeUserAgentDaily: () => 'claude_code_user_agent:daily',
  stainlessHeaders: (accountId: string) => `fmt_claude_req:stainless_headers:${accountId}`,

  // ---- Sessions and stickiness (§11)
  unifiedClaudeSession: (sessionHash: string) => `unified_claude_session_mapping:${sessionHash}`,
  unifiedOpenAISession: (sessionHash: string) => `unified_openai_session_mapping:${sessionHash}`,
  unifiedGeminiSession: (sessionHash: string) => `unified_gemini_session_mapping:${sessionHash}`,
  stickySession: (id: string) => `sticky_session:${id}`,
  openaiSessionAccount: (hash: string) => `openai_session_account_mapping:${hash}`,
  geminiSessionAccount: (hash: string) => `gemini_session_account_mapping:${hash}`,
  azureOpenaiSessionAccount: (sessionId: string) => `azure_openai_session_account_mapping:${sessionId}`,
  originalSessionBinding: (uuid: string) => `original_session_binding:${uuid}`,

  // ---- Admin / user auth (§12)
  adminSession: (token: string) => `session:${token}`,
  adminCredentials: () => 'session:admin_credentials',
  oauthSession: (sessionId: string) => `oauth:${sessionId}`,
  oauthSessionLegacy: (sessionId: string) => `oauth_session:${sessionId}`,
  user: (userId: string) => `user:${userId}`,
  username: (username: string) => `username:${username}`,
  userSession: (token: string) => `user_session:${token}`,

  // ---- Concurrency, queues, locks (§13)
  concurrency: (keyId: string) => `concurrency:${keyId}`,
  concurrencyConsoleAccount: (accountId: string) => `concurrency:console_account:${accountId}`,
  concurrencyQueue: (keyId: string) => `concurrency:queue:${keyId}`,
  concurrencyQueueStats: (keyId: string) => `concurrency:queue:stats:${keyId}`,
  concurrencyQueueWaitTimes: (keyId: string) => `concurrency:queue:wait_times:${keyId}`,
  concurrencyQueueWaitTimesGlobal: () => 'concurrency:queue:wait_times:global',
  userMsgQueueLock: (accountId: string) => `user_msg_queue_lock:${accountId}`,
  userMsgQueueLast: (accountId: string) => `user_msg_queue_last:${accountId}`,
  tokenRefreshLock: (platform: string, accountId: string) => `token_refresh_lock:${platform}:${accountId}`,
  accountRecoveryLock: (accountId: string) => `lock:account:${accountId}:recovery`,

  // ---- Configuration blobs (§14)
  claudeRelayConfig: () => 'claude_relay_config',
  proxyPolicyConfig: () => 'proxy_policy_config',
  webhookConfig: () => 'webhook_config:default',
  oemSettings: () => 'oem:settings',
  versionCheckCache: () => 'version_check_cache',
} as const;

/** Fixed TTLs (seconds unless named Ms) the legacy applies; see redis-keys.md. */
export const ttl = {
  apiKey: 31_536_000,
  usageDaily: 2_764_800,
  usageMonthly: 31_536_000,
  usageHourly: 604_800,
  usageRecords: 7_776_000,
  costDaily: 2_592_000,
  costMonthly: 7_776_000,
  costHourly: 604_800,
  opusWeekly: 1_209_600,
  fuelUsedDaily: 2_764_800,
  fuelEntry: 63_072_000,
  unifiedSessionDefault: 3600,
  userSession: 86_400,
  adminSessionRefresh: 86_400,
  oauthSession: 600,
  claudeAccountErrors: 300,
  tempUnavailable: 300,
} as const;

// ---------------------------------------------------------------------------------------
// Value encodings (redis-keys.md §0): what ioredis 5 sends for a JS value.
// ---------------------------------------------------------------------------------------

/**
 * Stringify a value the way the legacy's client did before sending it:
 * null/undefined -> '', booleans -> 'true'/'false', numbers -> String(n),
 * arrays -> comma-joined, plain objects -> '[object Object]'.
 */
export function encodeValue(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return value.map((v) => (v === null || v === undefined ? '' : String(v))).join(',');
  return String(value);
}

/** Flatten an object into HSET arguments in its own-key order, encoded as the legacy's client did. */
export function hsetArgs(obj: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) out.push(k, encodeValue(v));
  return out;
}
