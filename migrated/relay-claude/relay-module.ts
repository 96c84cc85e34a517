import type { MigratedModule } from '../module.js';
import { createApiKeyAuthenticator } from '../auth/authenticate-api-key.js';
import type { AuthSuccess } from '../auth/types.js';
import { schedulerReadAhead } from '../scheduler/claude-scheduler.js';
import { httpSurfaceFromConfig } from '../http/legacy-surface.js';
import { keyRoute } from '../routes/shared/key-route.js';
import type { RouteCall } from '../routes/shared/legacy-route.js';
import type { MigratedDeps } from '../runtime/deps.js';
import { createRelayServices, type RelayServices } from './relay-services.js';

/** Longest wait at close for webhook deliveries still under way. */
const NOTIFY_DRAIN_MS = 5000;

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
    // the key lookup (with the scheduler's reads) as soon as the gateway routes the request here; keyRoute's
    // own prefetch after it finds it started (a preflight is answered without one)
    prefetch(req) {
      if (req.method !== 'OPTIONS') auth.prefetch(req, req.url ?? '/');
    },
    async close() {
      // before the runner ends the PostgreSQL client: the coalesced api_keys upserts still pending, and the
      // account-anomaly webhooks under way (bounded: their retries may take a while)
      await s.usage.flush();
      await Promise.race([s.notify.idle(), new Promise<void>((r) => setTimeout(r, NOTIFY_DRAIN_MS).unref())]);
      s.close();
    },
  };
}
