import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { createApiKeyAuthenticator } from '../../auth/authenticate-api-key.js';
import { pathOf } from '../../http/legacy-headers.js';
import { keyRoute } from '../shared/key-route.js';
import { loadUsageStats } from './usage-stats.js';

/**
 * `key-info` module — key self-information behind API-key auth (http-surface.md §7.7):
 *  /api|/claude: GET /v1/key-info, /v1/usage, /v1/me, /v1/organizations/:org_id/usage;
 *  GET /openai/usage, /openai/key-info, /gemini/usage, /gemini/key-info.
 */
type Kind = 'key-info' | 'usage' | 'me' | 'org-usage' | 'openai-usage' | 'openai-key-info' | 'gemini-usage' | 'gemini-key-info';

export function classifyKeyInfoPath(path: string): Kind | null {
  const p = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase();
  const claude = /^\/(?:api|claude)(\/v1\/.+)$/.exec(p);
  if (claude) {
    const rest = claude[1]!;
    if (rest === '/v1/key-info') return 'key-info';
    if (rest === '/v1/usage') return 'usage';
    if (rest === '/v1/me') return 'me';
    if (/^\/v1\/organizations\/[^/]+\/usage$/.test(rest)) return 'org-usage';
    return null;
  }
  if (p === '/openai/usage') return 'openai-usage';
  if (p === '/openai/key-info') return 'openai-key-info';
  if (p === '/gemini/usage') return 'gemini-usage';
  if (p === '/gemini/key-info') return 'gemini-key-info';
  return null;
}

export const createKeyInfoModule: MigratedModuleFactory = (deps): MigratedModule => {
  const auth = createApiKeyAuthenticator(deps);
  const handle = keyRoute(deps, auth, async (call, { key }) => {
    const kind = classifyKeyInfoPath(pathOf(call.originalUrl));
    const reply = call.reply();
    const fail = (status: number, body: Record<string, unknown>) => reply.json(status, body);
    switch (kind) {
      case 'key-info':
        try {
          const usage = await loadUsageStats(deps.redis, deps.clock, key.id, { records: 20 });
          reply.json(200, { keyInfo: { id: key.id, name: key.name, tokenLimit: key.tokenLimit, usage }, timestamp: call.nowIso() });
        } catch (err) {
          fail(500, { error: 'Failed to get key info', message: (err as Error).message });
        }
        return;
      case 'usage':
        try {
          const usage = await loadUsageStats(deps.redis, deps.clock, key.id, { records: 20 });
          reply.json(200, { usage, limits: { tokens: key.tokenLimit, requests: 0 }, timestamp: call.nowIso() });
        } catch (err) {
          fail(500, { error: 'Failed to get usage stats', message: (err as Error).message });
        }
        return;
      case 'me':
        reply.json(200, { id: `user_${key.id}`, type: 'user', display_name: key.name || 'API User', created_at: call.nowIso() });
        return;
      case 'org-usage':
        try {
          await loadUsageStats(deps.redis, deps.clock, key.id, { records: 20 });
          // the legacy subtracts a `usage.totalTokens` that does not exist: tokenLimit − 0
          reply.json(200, { object: 'usage', data: [{ type: 'credit_balance', credit_balance: key.tokenLimit - 0 }] });
        } catch (err) {
          fail(500, { error: 'Failed to get usage info', message: (err as Error).message });
        }
        return;
      case 'openai-usage':
      case 'gemini-usage':
        try {
          const usage = await loadUsageStats(deps.redis, deps.clock, key.id);
          reply.json(200, {
            object: 'usage',
            total_tokens: usage.total.tokens,
            total_requests: usage.total.requests,
            daily_tokens: usage.daily.tokens,
            daily_requests: usage.daily.requests,
            monthly_tokens: usage.monthly.tokens,
            monthly_requests: usage.monthly.requests,
          });
        } catch {
          fail(500, { error: { message: 'Failed to retrieve usage statistics', type: 'api_error' } });
        }
        return;
      case 'openai-key-info':
      case 'gemini-key-info':
        try {
          const usage = await loadUsageStats(deps.redis, deps.clock, key.id);
          const used = usage.total.tokens;
          const common = {
            id: key.id,
            name: key.name,
            // openai: `description` is never on req.apiKey, so JSON drops it
            permissions: key.permissions || 'all',
            token_limit: key.tokenLimit,
            tokens_used: used,
            tokens_remaining: key.tokenLimit > 0 ? Math.max(0, key.tokenLimit - used) : null,
            rate_limit: { window: key.rateLimitWindow, requests: key.rateLimitRequests },
          };
          if (kind === 'openai-key-info') reply.json(200, { ...common, usage: { total: usage.total, daily: usage.daily, monthly: usage.monthly } });
          else
            reply.json(200, {
              ...common,
              concurrency_limit: key.concurrencyLimit,
              model_restrictions: { enabled: key.enableModelRestriction, models: key.restrictedModels },
            });
        } catch {
          fail(500, { error: { message: 'Failed to retrieve API key information', type: 'api_error' } });
        }
        return;
      default:
        reply.json(404, { error: 'Not Found', message: `Route ${call.originalUrl} not found`, timestamp: call.nowIso() });
    }
  });
  return { name: 'key-info', handle };
};

export default createKeyInfoModule;
