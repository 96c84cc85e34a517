import { isIP } from 'node:net';
import * as v from 'valibot';

/**
 * Process configuration, read from the environment once at start-up.
 * Names are the legacy's where the concept is the same (REDIS_*, ENCRYPTION_KEY, JWT_SECRET,
 * TIMEZONE_OFFSET, API_KEY_PREFIX, POSTGRES_*, LOG_LEVEL), so an operator can point the
 * gateway at the legacy's `.env`; the gateway's own are GATEWAY_*, LEGACY_URL, ROUTING_TABLE,
 * PRICING_FILE.
 */

const port = (fallback: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform((s) => Number(s)),
    v.number('must be a port number 0..65535'),
    v.integer('must be an integer'),
    v.minValue(0, 'must be 0..65535'),
    v.maxValue(65535, 'must be 0..65535'),
  );

const int = (fallback: number, min = 0) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform((s) => Number(s)),
    v.number('must be a number'),
    v.integer('must be an integer'),
    v.minValue(min, `must be >= ${min}`),
  );

/** The legacy's `parseInt(x) || fallback` (never rejects). */
const legacyInt = (fallback: number) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.transform((s) => Number.parseInt(s, 10) || fallback),
  );

const bool = (fallback: boolean) =>
  v.pipe(
    v.optional(v.string(), String(fallback)),
    v.picklist(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false'),
    v.transform((s) => s === 'true' || s === '1' || s === 'yes'),
  );

/** One trusted-proxy entry: an IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
const isAddressOrBlock = (entry: string): boolean => {
  const slash = entry.indexOf('/');
  const family = isIP(slash === -1 ? entry : entry.slice(0, slash));
  if (family === 0) return false;
  if (slash === -1) return true;
  const bits = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
};

/** Comma-separated addresses / CIDR blocks, or `none` (trust no peer). */
const addressList = (fallback: string) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.transform((s) => (s.trim().toLowerCase() === 'none' ? [] : s.split(',').map((e) => e.trim()).filter((e) => e !== ''))),
    v.check((list) => list.every(isAddressOrBlock), 'must be a comma-separated list of IP addresses or CIDR blocks (e.g. 127.0.0.1,::1,10.0.0.0/8), or none'),
  );

const url = (fallback: string) =>
  v.pipe(v.optional(v.string(), fallback), v.url('must be an absolute URL like http://127.0.0.1:3000'));

export const EnvSchema = v.object({
  GATEWAY_PORT: port(8080),
  GATEWAY_HOST: v.optional(v.string(), '0.0.0.0'),
  GATEWAY_ADMIN_PORT: port(8081),
  GATEWAY_ADMIN_HOST: v.optional(v.string(), '127.0.0.1'),
  GATEWAY_WORKERS: int(1, 1),
  GATEWAY_DRAIN_TIMEOUT_MS: int(30_000),
  GATEWAY_DEBUG_HEADERS: bool(false),
  /**
   * Peers (e.g. the local nginx) whose X-Real-IP / X-Forwarded-For / X-Forwarded-Proto are passed to the
   * legacy unchanged and whose X-Forwarded-For names the client; any other peer gets them set as nginx would.
   */
  GATEWAY_TRUSTED_PROXIES: addressList('127.0.0.1,::1'),
  LEGACY_URL: url('http://127.0.0.1:3000'),
  LEGACY_TIMEOUT_MS: int(600_000, 1),
  ROUTING_TABLE: v.optional(v.string(), './routing-table.json'),
  PRICING_FILE: v.optional(v.string(), '../shared/legacy-data/model_prices_and_context_window.json'),
  LOG_LEVEL: v.optional(v.picklist(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),

  REDIS_HOST: v.optional(v.string(), '127.0.0.1'),
  REDIS_PORT: port(6379),
  REDIS_PASSWORD: v.optional(v.string(), ''),
  REDIS_DB: int(0),
  REDIS_ENABLE_TLS: bool(false),

  POSTGRES_ENABLED: bool(false),
  POSTGRES_HOST: v.optional(v.string(), '127.0.0.1'),
  POSTGRES_PORT: port(5432),
  POSTGRES_DATABASE: v.optional(v.string(), 'claude_relay'),
  POSTGRES_USER: v.optional(v.string(), 'postgres'),
  POSTGRES_PASSWORD: v.optional(v.string(), ''),
  /** The legacy's .env.example name and pool default: parseInt(POSTGRES_MAX_POOL_SIZE) || 10. */
  POSTGRES_MAX_POOL_SIZE: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => Number.parseInt(s, 10) || 10),
  ),

  ENCRYPTION_KEY: v.optional(v.string(), 'CHANGE-THIS-32-CHARACTER-KEY-NOW'),
  JWT_SECRET: v.optional(v.string(), 'CHANGE-THIS-JWT-SECRET-IN-PRODUCTION'),
  /** Legacy semantics: parseInt(TIMEZONE_OFFSET) || 8 (so 0 means 8, as in the legacy). */
  TIMEZONE_OFFSET: v.pipe(
    v.optional(v.string(), '8'),
    v.transform((s) => Number.parseInt(s, 10) || 8),
  ),
  API_KEY_PREFIX: v.optional(v.string(), 'cr_'),

  // Legacy process settings the migrated relay / auth / HTTP layer honour (same names, the legacy's
  // parsing and defaults; as everywhere here, an empty value counts as unset).
  /** parseInt(REQUEST_TIMEOUT) || 600000: upstream inactivity timeout (ms). */
  REQUEST_TIMEOUT: legacyInt(600_000),
  /** CLAUDE_API_VERSION || '2023-06-01'. */
  CLAUDE_API_VERSION: v.optional(v.string(), '2023-06-01'),
  /** parseFloat(STICKY_SESSION_TTL_HOURS) || 1. */
  STICKY_SESSION_TTL_HOURS: v.pipe(
    v.optional(v.string(), '1'),
    v.transform((s) => Number.parseFloat(s) || 1),
  ),
  /** parseInt(STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES) || 0. */
  STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES: legacyInt(0),
  /** Extra CA (PEM file) trusted for upstream TLS (lab / tests; production uses NODE_EXTRA_CA_CERTS). */
  GATEWAY_UPSTREAM_CA_FILE: v.optional(v.string()),
  /** Unset: the `cors` package (as recorded); 'true' the same; anything else: the legacy's own CORS middleware. */
  ENABLE_CORS: v.optional(v.string()),
  /** 'development': error bodies carry the error message and stack, as the legacy's. */
  NODE_ENV: v.optional(v.string(), ''),
  /** parseInt(REQUEST_MAX_SIZE_MB || '60'); not a number → 60. */
  REQUEST_MAX_SIZE_MB: v.pipe(
    v.optional(v.string(), '60'),
    v.transform((s) => {
      const n = Number.parseInt(s, 10);
      return Number.isNaN(n) ? 60 : n;
    }),
  ),
  /** Number(SYSTEM_PROMPT_THRESHOLD), 0.5 when not finite: Claude Code system-prompt similarity threshold. */
  SYSTEM_PROMPT_THRESHOLD: v.pipe(
    v.optional(v.string(), '0.5'),
    v.transform((s) => (Number.isFinite(Number(s)) ? Number(s) : 0.5)),
  ),
  /** parseInt(CLEANUP_INTERVAL) || 3600000: period of the hourly maintenance sweeps (migrated/maintenance), ms. */
  CLEANUP_INTERVAL: legacyInt(3_600_000),
  /** parseInt(CONCURRENCY_MAX_LIFETIME_MINUTES) || 10: cap on a concurrency lease. */
  CONCURRENCY_MAX_LIFETIME_MINUTES: legacyInt(10),
  /** APP_VERSION || VERSION || '1.1.234' is the version /health reports. */
  APP_VERSION: v.optional(v.string()),
  VERSION: v.optional(v.string()),
  /** The legacy's config.system.timezone (SYSTEM_TIMEZONE || 'Asia/Shanghai'): webhook notification times. */
  SYSTEM_TIMEZONE: v.pipe(
    v.optional(v.string(), ''),
    v.transform((s) => s || 'Asia/Shanghai'),
  ),
  /** BILLING_EVENTS_ENABLED !== 'false': usage also goes to the billing:events stream. */
  BILLING_EVENTS_ENABLED: v.pipe(
    v.optional(v.string(), 'true'),
    v.transform((s) => s !== 'false'),
  ),

  // The legacy Bedrock relay's settings (bedrockRelayService constructor; relay-bedrock/settings.ts).
  /** AWS_REGION || 'us-east-1': the Bedrock region when the account has none. */
  AWS_REGION: v.optional(v.string(), 'us-east-1'),
  /** Region for model ids containing `haiku` when the account has none; unset → AWS_REGION. */
  ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION: v.optional(v.string()),
  /** Bedrock model when neither the account nor the request names one. */
  ANTHROPIC_MODEL: v.optional(v.string(), 'us.anthropic.claude-sonnet-4-20250514-v1:0'),
  /** parseInt(CLAUDE_CODE_MAX_OUTPUT_TOKENS) || 4096: the Bedrock max_tokens cap. */
  CLAUDE_CODE_MAX_OUTPUT_TOKENS: legacyInt(4096),
  /** Used by Bedrock accounts without credentials of their own (both ID and secret needed). */
  AWS_ACCESS_KEY_ID: v.optional(v.string()),
  AWS_SECRET_ACCESS_KEY: v.optional(v.string()),
  AWS_SESSION_TOKEN: v.optional(v.string()),

  /** Console 400 "account disabled" block length: parseInt, unset / non-numeric / <= 0 → 0 (no block mark; .env.example has 10). */
  CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES: v.pipe(
    v.optional(v.string(), '0'),
    v.transform((s) => Math.max(Number.parseInt(s, 10) || 0, 0)),
  ),
  // The fallback proxy of ProxyHelper.getGlobalProxyConfig (used when no account/group/policy proxy
  // applies and TYPE, HOST and PORT are all set; migrated/upstream/proxy-policy.ts globalEnvProxy).
  GLOBAL_PROXY_TYPE: v.optional(v.string()),
  GLOBAL_PROXY_HOST: v.optional(v.string()),
  GLOBAL_PROXY_PORT: v.optional(v.string()),
  GLOBAL_PROXY_USERNAME: v.optional(v.string()),
  GLOBAL_PROXY_PASSWORD: v.optional(v.string()),
});

export type GatewayConfig = v.InferOutput<typeof EnvSchema>;

export class ConfigError extends Error {}

/** Parse the environment; on failure throw one line naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const input: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.entries)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = v.safeParse(EnvSchema, input);
  if (result.success) return result.output;
  const issue = result.issues[0]!;
  const name = issue.path?.map((p) => String(p.key)).join('.') ?? '(environment)';
  throw new ConfigError(`invalid configuration: ${name}=${JSON.stringify(input[name] ?? '')}: ${issue.message}`);
}
