import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { createApiKeyAuthenticator } from '../../auth/authenticate-api-key.js';
import { filterBlacklisted, hasPermission, modelBodies, permissionBodies } from '../../auth/permissions.js';
import { pathOf } from '../../http/legacy-headers.js';
import { keyRoute } from '../shared/key-route.js';
import { lazyPricing } from '../shared/lazy-pricing.js';
import { allModels, azureModels, droidModels, openaiClaudeModels } from './catalog.js';

/**
 * `models` module — the upstream-free model lists behind API-key auth:
 * GET /api/v1/models, /claude/v1/models (modelService list, blacklist-filtered),
 * /openai/claude/v1/models (+ /:model detail), /droid/<any>/v1/models, /azure/models.
 * Express matching: case-insensitive, optional trailing slash.
 */
type Kind = { kind: 'all' } | { kind: 'openai-claude' } | { kind: 'openai-claude-detail'; model: string } | { kind: 'droid' } | { kind: 'azure' };

export function classifyModelsPath(path: string): Kind | null {
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const lower = p.toLowerCase();
  if (lower === '/api/v1/models' || lower === '/claude/v1/models') return { kind: 'all' };
  if (lower === '/openai/claude/v1/models') return { kind: 'openai-claude' };
  const detail = /^\/openai\/claude\/v1\/models\/([^/]+)$/i.exec(p);
  if (detail) {
    let model = detail[1]!;
    try {
      model = decodeURIComponent(model);
    } catch {
      /* express would 400 on a bad escape; keep the raw segment */
    }
    return { kind: 'openai-claude-detail', model };
  }
  if (/^\/droid\/.+\/v1\/models$/i.test(p)) return { kind: 'droid' };
  if (lower === '/azure/models') return { kind: 'azure' };
  return null;
}

export const createModelsModule: MigratedModuleFactory = (deps): MigratedModule => {
  const auth = createApiKeyAuthenticator(deps);
  const pricingTable = lazyPricing(deps);

  const handle = keyRoute(deps, auth, async (call, { key }) => {
    const kind = classifyModelsPath(pathOf(call.originalUrl));
    const now = deps.clock.now();
    const reply = call.reply();
    switch (kind?.kind) {
      case 'all':
        reply.json(200, { object: 'list', data: filterBlacklisted(key, allModels(now)) });
        return;
      case 'openai-claude': {
        if (!hasPermission(key, 'claude')) {
          const rej = permissionBodies.openaiStyle('claude');
          reply.json(rej.status, rej.body);
          return;
        }
        reply.json(200, { object: 'list', data: filterBlacklisted(key, openaiClaudeModels()) });
        return;
      }
      case 'openai-claude-detail': {
        if (!hasPermission(key, 'claude')) {
          const rej = permissionBodies.openaiStyle('claude');
          reply.json(rej.status, rej.body);
          return;
        }
        if (key.enableModelRestriction && key.restrictedModels.length > 0 && key.restrictedModels.includes(kind.model)) {
          const rej = modelBodies.openaiModelNotFound(kind.model);
          reply.json(rej.status, rej.body);
          return;
        }
        const known = pricingTable().getModelPricing(kind.model);
        reply.json(200, {
          id: kind.model,
          object: 'model',
          created: known ? 1736726400 : Math.floor(now / 1000),
          owned_by: 'anthropic',
          permission: [],
          root: kind.model,
          parent: null,
        });
        return;
      }
      case 'droid':
        reply.json(200, { object: 'list', data: droidModels(now) });
        return;
      case 'azure':
        reply.json(200, { object: 'list', data: azureModels(now) });
        return;
      default:
        reply.json(404, { error: 'Not Found', message: `Route ${call.originalUrl} not found`, timestamp: call.nowIso() });
    }
  });
  return { name: 'models', handle, close: async () => pricingTable.stop() };
};

export default createModelsModule;
