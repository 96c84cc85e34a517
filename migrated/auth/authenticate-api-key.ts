import type { IncomingMessage } from 'node:http';
import type { MigratedDeps } from '../runtime/deps.js';
import { PgStore } from '../pg/store.js';
import { ApiKeyRepository } from '../storage/api-keys.js';
import { applyBrowserFallback } from './browser-fallback.js';
import { matchAllowedClient, validateClaudeCode, type ClientRequestView } from './client-validators.js';
import { acquireConcurrency, type LeaseHandle } from './concurrency.js';
import { extractApiKey, queryKeyOf } from './extract-key.js';
import { createLeaseStore, type LeaseStore } from './lease-store.js';
import { checkCostLimits, checkRateLimitWindow } from './limits.js';
import * as r from './rejections.js';
import { RelayConfigReader } from './relay-config.js';
import { isClaudeMessagesEndpoint, isTokenCountRequest, routerPath } from './request-paths.js';
import type { AuthenticatedKey, AuthRequestOptions, AuthResult } from './types.js';
import { validateApiKey, type PrefetchedKey, type ValidatedKey } from './validate-key.js';
import { KeyReadAhead, type ReadAheadPlanner } from './key-read-ahead.js';
import { hashApiKey } from '../crypto/api-key-hash.js';

/**
 * The legacy's `authenticateApiKey` (src/middleware/auth.js) as a function: same checks, same
 * order, same outcomes (auth-and-keys.md §3). Build one per module with
 * `createApiKeyAuthenticator(deps)` and call `authenticate(req, opts)` per request:
 *
 * ```ts
 * const auth = createApiKeyAuthenticator(deps);
 * const result = await auth.authenticate(req, { body, res });
 * if (!result.ok) { if (!result.abandoned) sendAuthRejection(req, res, result, reply); return; }
 * try { ... } finally { await result.release(); }
 * ```
 */
export interface ApiKeyAuthenticator {
  authenticate(req: IncomingMessage, opts?: AuthRequestOptions): Promise<AuthResult>;
  /**
   * Start the key lookup of `req` as soon as its headers are in (before its body is read), for a key
   * seen before; `authenticate` then uses it if it was started at most PREFETCH_MAX_AGE_MS earlier.
   */
  prefetch(req: IncomingMessage, originalUrl: string): void;
  /** The key repository / relay-config reader this authenticator uses (shared with routes). */
  readonly repo: ApiKeyRepository;
  readonly relayConfig: RelayConfigReader;
  /** validateApiKey alone (no restrictions, limits or leases): for /apiStats. */
  validate(rawKey: string, opts?: { forStats?: boolean }): ReturnType<typeof validateApiKey>;
}

export interface AuthenticatorOptions {
  leases?: LeaseStore;
  /**
   * Reads the route will make for a key (e.g. its bound account): done in the same round trip as
   * the key lookup from the key's second request on, handed over as `AuthSuccess.readAhead`.
   */
  readAhead?: ReadAheadPlanner;
}

/**
 * How much earlier than the legacy's read point (after the body is parsed) a prefetched key read may
 * have been started and still be used. The legacy reads the key once the body is in; a read started
 * while a small body arrives sees the same state but for writes landing in that sliver of time, as if
 * the request had come a moment sooner. A slow upload gets a fresh read.
 */
export const PREFETCH_MAX_AGE_MS = 5;

function toAuthenticatedKey(v: ValidatedKey): AuthenticatedKey {
  const p = v.parsed;
  const rec = v.record;
  return {
    id: rec.id,
    name: rec.name as string,
    tokenLimit: p.tokenLimit,
    claudeAccountId: rec.claudeAccountId,
    claudeConsoleAccountId: rec.claudeConsoleAccountId,
    geminiAccountId: rec.geminiAccountId,
    openaiAccountId: rec.openaiAccountId,
    bedrockAccountId: rec.bedrockAccountId,
    droidAccountId: rec.droidAccountId,
    permissions: p.permissions,
    concurrencyLimit: p.concurrencyLimit,
    rateLimitWindow: p.rateLimitWindow,
    rateLimitRequests: p.rateLimitRequests,
    rateLimitCost: p.rateLimitCost,
    enableModelRestriction: p.enableModelRestriction,
    restrictedModels: p.restrictedModels,
    enableClientRestriction: p.enableClientRestriction,
    allowedClients: p.allowedClients,
    dailyCostLimit: p.dailyCostLimit,
    dailyCost: v.costs.dailyCost,
    totalCostLimit: p.totalCostLimit,
    totalCost: v.costs.totalCost,
    weeklyOpusCostLimit: p.weeklyOpusCostLimit,
    weeklyOpusCost: v.costs.weeklyOpusCost,
    description: rec.description,
    azureOpenaiAccountId: rec.azureOpenaiAccountId,
    createdAt: rec.createdAt,
    expiresAt: rec.expiresAt,
    tags: p.tags,
    record: rec,
  };
}

export function createApiKeyAuthenticator(deps: MigratedDeps, options: AuthenticatorOptions = {}): ApiKeyAuthenticator {
  const pgStore = deps.pg ? new PgStore(deps.pg, deps.clock, deps.log) : null;
  const repo = new ApiKeyRepository({ redis: deps.redis, clock: deps.clock, log: deps.log, pgStore });
  const relayConfig = new RelayConfigReader(deps.redis, deps.clock);
  const leases = options.leases ?? createLeaseStore(deps.redis, deps.clock);
  const promptThreshold = deps.config.SYSTEM_PROMPT_THRESHOLD;
  const maxLifetimeMinutes = deps.config.CONCURRENCY_MAX_LIFETIME_MINUTES;
  const validateDeps = {
    redis: deps.redis,
    clock: deps.clock,
    log: deps.log,
    encryptionKey: deps.config.ENCRYPTION_KEY,
    apiKeyPrefix: deps.config.API_KEY_PREFIX,
    repo,
    pgStore,
    readAhead: new KeyReadAhead(options.readAhead),
  };
  const prefetched = new WeakMap<IncomingMessage, { key: PrefetchedKey; at: number }>();

  function prefetch(req: IncomingMessage, originalUrl: string): void {
    if (prefetched.has(req)) return; // started already (the module's prefetch, then keyRoute's)
    const apiKey = extractApiKey(req.headers, queryKeyOf(originalUrl));
    if (apiKey.length < 10 || apiKey.length > 512 || !apiKey.startsWith(validateDeps.apiKeyPrefix)) return;
    const hashed = hashApiKey(apiKey, validateDeps.encryptionKey);
    const result = validateDeps.readAhead.start(deps.redis, deps.clock, hashed);
    prefetched.set(req, { key: { rawKey: apiKey, hashed, result }, at: performance.now() });
  }

  /** The prefetched key; its lookup is dropped (made again by validation) when it started too long ago. */
  function takePrefetch(req: IncomingMessage): PrefetchedKey | null {
    const early = prefetched.get(req);
    if (!early) return null;
    prefetched.delete(req);
    return performance.now() - early.at <= PREFETCH_MAX_AGE_MS ? early.key : { ...early.key, result: null };
  }

  async function authenticate(req: IncomingMessage, opts: AuthRequestOptions = {}): Promise<AuthResult> {
    let lease: LeaseHandle | null = null;
    try {
      applyBrowserFallback(req.headers);
      const originalUrl = opts.originalUrl ?? req.url ?? '/';
      const apiKey = extractApiKey(req.headers, queryKeyOf(originalUrl));
      if (apiKey) req.headers['x-api-key'] = apiKey;
      if (!apiKey) return r.missingApiKey();
      if (apiKey.length < 10 || apiKey.length > 512) return r.invalidKeyFormat();

      const validation = await validateApiKey(validateDeps, apiKey, { pending: takePrefetch(req) });
      if (!validation.valid) return r.invalidApiKey(validation.error);
      const v = validation.key;
      const p = v.parsed;

      const path = opts.routerPath ?? routerPath(originalUrl);
      const skipRestrictions = isTokenCountRequest(originalUrl, path);
      const view: ClientRequestView = { headers: req.headers, path, originalUrl, body: opts.body ?? {}, promptThreshold };

      if (!skipRestrictions && p.enableClientRestriction && p.allowedClients.length > 0) {
        if (!matchAllowedClient(p.allowedClients, view)) return r.clientNotAllowed(p.allowedClients);
      }

      if (!skipRestrictions && isClaudeMessagesEndpoint(originalUrl)) {
        let reject = false;
        try {
          const globalOnly = await relayConfig.claudeCodeOnly();
          const keyOnly = p.enableClientRestriction && p.allowedClients.length === 1 && p.allowedClients.includes('claude_code');
          if ((globalOnly || keyOnly) && !validateClaudeCode(view)) reject = true;
        } catch (err) {
          deps.log.error({ err }, 'claude-code-only check failed; request continues');
        }
        if (reject) return r.claudeCodeOnly();
      }

      const limit = p.concurrencyLimit || 0;
      if (!skipRestrictions && limit > 0) {
        const got = await acquireConcurrency(
          { leases, ids: deps.ids, log: deps.log, relayConfig: () => relayConfig.get(), maxLifetimeMinutes },
          v.record.id,
          limit,
          req,
          opts.res,
        );
        if ('rejection' in got) return got.rejection;
        if ('abandoned' in got) return got.abandoned;
        lease = got.lease;
      }

      const window = await checkRateLimitWindow(deps.redis, deps.clock, v);
      if ('rejection' in window) {
        await lease?.release();
        return window.rejection;
      }
      const costRejection = checkCostLimits(deps.clock, v, opts.body ?? {});
      if (costRejection) {
        await lease?.release();
        return costRejection;
      }

      const held = lease;
      return {
        ok: true,
        key: toAuthenticatedKey(v),
        rateLimit: window.info,
        release: async () => {
          await held?.release();
        },
        responseHeaders: held ? held.headers : [],
        readAhead: v.readAhead,
      };
    } catch (err) {
      deps.log.error({ err }, 'authentication middleware error');
      await lease?.release();
      return r.authenticationError();
    }
  }

  return {
    authenticate,
    prefetch,
    repo,
    relayConfig,
    validate: (rawKey, o) => validateApiKey(validateDeps, rawKey, o ?? {}),
  };
}

const perDeps = new WeakMap<MigratedDeps, ApiKeyAuthenticator>();

/**
 * Convenience for callers that do not keep an authenticator: one is created per `deps` object
 * (weakly cached, so the 60 s relay-config cache and the lease store are shared per deps).
 */
export function authenticateApiKey(deps: MigratedDeps, req: IncomingMessage, opts: AuthRequestOptions = {}): Promise<AuthResult> {
  let auth = perDeps.get(deps);
  if (!auth) {
    auth = createApiKeyAuthenticator(deps);
    perDeps.set(deps, auth);
  }
  return auth.authenticate(req, opts);
}
