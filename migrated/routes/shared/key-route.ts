import type { MigratedDeps } from '../../runtime/deps.js';
import type { ApiKeyAuthenticator } from '../../auth/authenticate-api-key.js';
import type { AuthSuccess } from '../../auth/types.js';
import { legacyRoute, type RouteCall } from './legacy-route.js';
import type { HttpSurfaceOptions } from '../../http/legacy-surface.js';

/**
 * A route behind `authenticateApiKey`: rejections are written exactly as the middleware did;
 * the lease (if any) is released when the handler is done, whatever happens.
 */
export function keyRoute(
  deps: MigratedDeps,
  auth: ApiKeyAuthenticator,
  handler: (call: RouteCall, auth: AuthSuccess) => Promise<void>,
  surface?: HttpSurfaceOptions,
) {
  return legacyRoute(
    deps,
    async (call) => {
      const result = await auth.authenticate(call.req, { originalUrl: call.originalUrl, body: call.body, res: call.res });
      if (!result.ok) {
        if (result.abandoned) {
          if (!call.res.headersSent) call.res.destroy();
          return;
        }
        const out = call.reply();
        out.headers.merge(result.headers);
        out.json(result.status, result.body);
        return;
      }
      try {
        const out = call.reply;
        const withAuthHeaders: RouteCall = {
          ...call,
          reply: (stage) => {
            const r = out(stage);
            r.headers.merge(result.responseHeaders);
            return r;
          },
        };
        await handler(withAuthHeaders, result);
      } finally {
        await result.release();
      }
    },
    surface,
    (req, originalUrl) => auth.prefetch(req, originalUrl),
  );
}
