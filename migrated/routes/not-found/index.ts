import type { MigratedModule, MigratedModuleFactory } from '../../module.js';
import { notFoundBody } from '../../http/errors.js';
import { legacyRoute } from '../shared/legacy-route.js';

/** `not-found` module: the legacy's app-level JSON 404 for any unmatched method/path (no auth). */
export const createNotFoundModule: MigratedModuleFactory = (deps): MigratedModule => {
  const handle = legacyRoute(deps, async (call) => {
    call.reply().json(404, notFoundBody(call.originalUrl, call.nowIso()));
  });
  return { name: 'not-found', handle };
};

export default createNotFoundModule;
