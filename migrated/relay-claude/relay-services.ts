import { readFileSync } from 'node:fs';
import type { GatewayConfig } from '../../gateway/config/env.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { RelayConfigReader } from '../auth/relay-config.js';
import { AccountCipher } from '../crypto/account-crypto.js';
import { PgStore } from '../pg/store.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { ClaudeScheduler } from '../scheduler/claude-scheduler.js';
import { ConsoleAccountState } from '../scheduler/console-quota.js';
import { notifierFor, type AnomalyNotifier } from '../notify/notifier.js';
import { AccountRepository } from '../storage/accounts.js';
import { StickySessions } from '../storage/sessions.js';
import { AgentPool } from '../upstream/agents.js';
import type { ProxyConfig } from '../upstream/proxy.js';
import { globalEnvProxy } from '../upstream/proxy-policy.js';
import { ProxyPolicyCache } from '../upstream/proxy-policy-cache.js';
import { UsageRecorder } from '../usage/record-usage.js';
import { AccessTokens } from './access-token.js';
import { ConsoleMarks, OfficialMarks } from './account-marks.js';
import { ConcurrencyLeases } from '../locks/concurrency.js';
import { ClaudeCodeHeaderStore } from './claude-code-headers.js';
import { MemoCipher } from './memo-cipher.js';
import type { MaxTokensLimit } from './request-transform.js';

/**
 * Everything the Claude relay modules share, built once per set of deps: repositories,
 * scheduler, account marks, token source, keep-alive agents, usage recorder, pricing.
 * The legacy's process settings come from `deps.config` (gateway/config/env.ts).
 */
export interface RelaySettings {
  /** REQUEST_TIMEOUT (ms, default 600000): upstream socket inactivity timeout. */
  requestTimeoutMs: number;
  /** CLAUDE_API_VERSION (default 2023-06-01). */
  apiVersion: string;
  stickyTtlHours: number;
  renewalThresholdMinutes: number;
  /** Extra trusted CA for upstream TLS (lab / tests); production uses NODE_EXTRA_CA_CERTS. */
  upstreamCaFile?: string | undefined;
  /** BILLING_EVENTS_ENABLED !== 'false'. */
  billingEventsEnabled: boolean;
  /** GLOBAL_PROXY_*: the proxy used when no account / group / policy proxy applies. */
  globalProxy?: ProxyConfig | null;
}

export function relaySettingsFromConfig(config: GatewayConfig): RelaySettings {
  return {
    requestTimeoutMs: config.REQUEST_TIMEOUT,
    apiVersion: config.CLAUDE_API_VERSION,
    stickyTtlHours: config.STICKY_SESSION_TTL_HOURS,
    renewalThresholdMinutes: config.STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES,
    upstreamCaFile: config.GATEWAY_UPSTREAM_CA_FILE || undefined,
    billingEventsEnabled: config.BILLING_EVENTS_ENABLED,
    globalProxy: globalEnvProxy(config),
  };
}

/**
 * The legacy clamps max_tokens with an EXACT key lookup in the pricing file (no fuzzy match, unlike
 * cost lookups), so only `{model: max_tokens || max_output_tokens}` is kept from it here.
 * (NOTE for engineer B: an exact-lookup accessor on PricingTable would make this re-read unnecessary.)
 */
function outputLimits(file: string, log: MigratedDeps['log']): MaxTokensLimit {
  const limits = new Map<string, number>();
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { max_tokens?: unknown; max_output_tokens?: unknown }>;
    for (const [model, entry] of Object.entries(data)) {
      const limit = entry?.max_tokens || entry?.max_output_tokens;
      if (typeof limit === 'number' && limit > 0) limits.set(model, limit);
    }
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'pricing file unreadable: max_tokens clamp disabled');
  }
  return (model) => limits.get(model);
}

export interface RelayServices {
  deps: MigratedDeps;
  redis(): MigratedDeps['redis'];
  settings: RelaySettings;
  accounts: AccountRepository;
  sticky: StickySessions;
  scheduler: ClaudeScheduler;
  /** Console daily quota and 400-block state (CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES). */
  consoleState: ConsoleAccountState;
  official: OfficialMarks;
  /** Account-anomaly webhooks (legacy webhook_config:default), fire-and-forget. */
  notify: AnomalyNotifier;
  console: ConsoleMarks;
  tokens: AccessTokens;
  cipher: AccountCipher;
  agents: AgentPool;
  usage: UsageRecorder;
  codeHeaders: ClaudeCodeHeaderStore;
  /** Concurrency leases (the Console stream slot's renewal). */
  leases: ConcurrencyLeases;
  maxTokensLimit: MaxTokensLimit;
  /** `claude_relay_config` (60 s cache): user-message queue, global session binding. */
  relayConfig: RelayConfigReader;
  /** `proxy_policy_config` (60 s) and the account-group snapshot (2 s), cached like the legacy's. */
  proxyPolicy: ProxyPolicyCache;
  close(): void;
}

export function createRelayServices(deps: MigratedDeps, settings: RelaySettings = relaySettingsFromConfig(deps.config), shared: { relayConfig?: RelayConfigReader } = {}): RelayServices {
  const { redis, clock, ids, log } = deps;
  const pgStore = deps.pg ? new PgStore(deps.pg, clock, log) : null;
  const accounts = new AccountRepository({ redis, clock, pgStore, accountNames: deps.accountNames });
  const sticky = new StickySessions(redis, { stickyTtlHours: settings.stickyTtlHours, renewalThresholdMinutes: settings.renewalThresholdMinutes });
  const cipher = new MemoCipher(deps.config.ENCRYPTION_KEY, ids);
  const agents = new AgentPool(settings.upstreamCaFile ? readFileSync(settings.upstreamCaFile) : undefined);
  const pricing = new PricingTable(deps.config.PRICING_FILE, log);
  try {
    pricing.loadSync();
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'pricing file not loaded: max_tokens clamp and costs disabled');
  }
  const stopWatch = pricing.watch(60_000);
  const notify = notifierFor(deps);
  const markDeps = { redis, clock, accounts, sticky, notify };
  const proxyPolicy = new ProxyPolicyCache(redis, clock);
  const consoleState = new ConsoleAccountState({ redis, clock, accounts, blockedMinutes: deps.config.CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES, log, notify });
  return {
    deps,
    redis: () => redis,
    settings,
    accounts,
    sticky,
    scheduler: new ClaudeScheduler({ redis, clock, accounts, sticky, consoleState }),
    consoleState,
    official: new OfficialMarks(markDeps),
    notify,
    console: new ConsoleMarks(markDeps),
    tokens: new AccessTokens({ redis, clock, ids, log, accounts, cipher, agents, upstreamOverride: deps.upstreamOverride, globalProxy: settings.globalProxy, proxyPolicy, notify }),
    cipher,
    agents,
    usage: new UsageRecorder({ redis, clock, ids, log, pricing, pgStore, billingEventsEnabled: settings.billingEventsEnabled }),
    codeHeaders: new ClaudeCodeHeaderStore(redis, clock),
    leases: new ConcurrencyLeases(redis, clock),
    maxTokensLimit: outputLimits(deps.config.PRICING_FILE, log),
    relayConfig: shared.relayConfig ?? new RelayConfigReader(redis, clock),
    proxyPolicy,
    close() {
      stopWatch();
      agents.destroy();
    },
  };
}
