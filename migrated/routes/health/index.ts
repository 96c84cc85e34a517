import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { legacyRoute } from '../shared/legacy-route.js';
import { healthBody, legacyVersion, sharedRedisHealth } from './health-body.js';

/** `health` module: GET /health. */
export const createHealthModule: MigratedModuleFactory = (deps): MigratedModule => {
  const counters = { requests: 0, errors: 0, warnings: 0 };
  const version = legacyVersion();
  const redisProbe = sharedRedisHealth(deps.redis);
  const handle = legacyRoute(deps, async (call) => {
    counters.requests++;
    try {
      const body = await healthBody({
        redis: deps.redis,
        redisProbe,
        pg: deps.pg,
        pgEnabled: deps.pg !== null || deps.config.POSTGRES_ENABLED,
        version,
        nowIso: call.nowIso,
        stats: () => ({ ...counters }),
      });
      call.reply().json(200, body);
    } catch (err) {
      counters.errors++;
      call.reply().json(503, { status: 'unhealthy', error: (err as Error).message, timestamp: call.nowIso() });
    }
  });
  return { name: 'health', handle };
};

export default createHealthModule;
