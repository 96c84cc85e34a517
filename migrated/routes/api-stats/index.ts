import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { createApiKeyAuthenticator } from '../../auth/authenticate-api-key.js';
import { pathOf } from '../../http/legacy-headers.js';
import { PgStore } from '../../pg/store.js';
import { AccountRepository } from '../../storage/accounts.js';
import { legacyRoute } from '../shared/legacy-route.js';
import { lazyPricing } from '../shared/lazy-pricing.js';
import { batchModelStats, batchStats } from './batch-handlers.js';
import { getKeyId, userModelStats, userStats, type StatsDeps } from './handlers.js';

/**
 * `api-stats` module — the public self-service stats API (no auth middleware; the key or key id
 * comes in the JSON body). Migrated: POST /apiStats/api/get-key-id, /user-stats, /user-model-stats,
 * /batch-stats, /batch-model-stats. Not migrated (route them to the legacy): merge-renewal,
 * redeem-fuel-pack (writes), /apiStats/api-key/test (a stream through the service itself).
 */
export const API_STATS_PATHS = [
  '/apiStats/api/get-key-id',
  '/apiStats/api/user-stats',
  '/apiStats/api/user-model-stats',
  '/apiStats/api/batch-stats',
  '/apiStats/api/batch-model-stats',
] as const;

export const createApiStatsModule: MigratedModuleFactory = (deps): MigratedModule => {
  const pricing = lazyPricing(deps);
  const d: StatsDeps = {
    redis: deps.redis,
    clock: deps.clock,
    auth: createApiKeyAuthenticator(deps),
    accounts: new AccountRepository({ redis: deps.redis, clock: deps.clock, pgStore: deps.pg ? new PgStore(deps.pg, deps.clock, deps.log) : null }),
    pricing,
  };
  const handle = legacyRoute(deps, async (call) => {
    const p = pathOf(call.originalUrl);
    const path = (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p).toLowerCase();
    let out;
    if (path === '/apistats/api/get-key-id') out = await getKeyId(d, call);
    else if (path === '/apistats/api/user-stats') out = await userStats(d, call);
    else if (path === '/apistats/api/user-model-stats') out = await userModelStats(d, call);
    else if (path === '/apistats/api/batch-stats') out = await batchStats(d, call);
    else if (path === '/apistats/api/batch-model-stats') out = await batchModelStats(d, call);
    else out = { status: 404, body: { error: 'Not Found', message: `Route ${call.originalUrl} not found`, timestamp: call.nowIso() } };
    call.reply().json(out.status, out.body);
  });
  return { name: 'api-stats', handle, close: async () => pricing.stop() };
};

export default createApiStatsModule;
