import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { PgStore } from '../../pg/store.js';
import { AccountRepository } from '../../storage/accounts.js';
import { legacyRoute } from '../shared/legacy-route.js';

/**
 * `claude-health` module: GET /api/health and /claude/health (src/routes/api.js; claudeRelayService.healthCheck):
 * 200 when at least one official Claude account is active with status `active`, else 503.
 */
export const createClaudeHealthModule: MigratedModuleFactory = (deps): MigratedModule => {
  const accounts = new AccountRepository({ redis: deps.redis, clock: deps.clock, pgStore: deps.pg ? new PgStore(deps.pg, deps.clock, deps.log) : null });
  const handle = legacyRoute(deps, async (call) => {
    let health: Record<string, unknown>;
    try {
      const all = await accounts.list('claude');
      const active = all.filter((a) => a.isActive === 'true' && a.status === 'active');
      health = { healthy: active.length > 0, activeAccounts: active.length, totalAccounts: all.length, timestamp: call.nowIso() };
    } catch (err) {
      health = { healthy: false, error: (err as Error).message, timestamp: call.nowIso() };
    }
    const healthy = health.healthy === true;
    call.reply().json(healthy ? 200 : 503, {
      status: healthy ? 'healthy' : 'unhealthy',
      service: 'claude-relay-service',
      version: '1.0.0',
      ...health,
    });
  });
  return { name: 'claude-health', handle };
};

export default createClaudeHealthModule;
