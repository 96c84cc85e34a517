import type { MigratedModule } from '../module.js';
import { createApiKeyAuthenticator } from '../auth/authenticate-api-key.js';
import type { AuthSuccess } from '../auth/types.js';
import { schedulerReadAhead } from '../scheduler/claude-scheduler.js';
import { httpSurfaceFromConfig } from '../http/legacy-surface.js';
import { keyRoute } from '../routes/shared/key-route.js';
import type { RouteCall } from '../routes/shared/legacy-route.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { createRelayServices, type RelayServices } from './relay-services.js';

/** A relay route module: body intake + API-key auth (legacy middleware chain), shared relay services, closed on close(). */
export function relayModule(
  name: string,
  deps: MigratedDeps,
  handler: (s: RelayServices, call: RouteCall, auth: AuthSuccess) => Promise<void>,
): MigratedModule {
  // the scheduler's first reads (bound account + temp flag) ride along with the key lookup
  const auth = createApiKeyAuthenticator(deps, { readAhead: (record) => schedulerReadAhead({ claudeAccountId: record['claudeAccountId'], claudeConsoleAccountId: record['claudeConsoleAccountId'] }) });
  // one claude_relay_config cache for auth and relay (the legacy has one per process)
  const s = createRelayServices(deps, undefined, { relayConfig: auth.relayConfig });
  return {
    name,
    handle: keyRoute(deps, auth, (call, result) => handler(s, call, result), httpSurfaceFromConfig(deps.config)),
    async close() {
      s.close();
    },
  };
}
