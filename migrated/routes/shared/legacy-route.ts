import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MigratedRequestContext } from '../../module.js';
import type { MigratedDeps } from '../../runtime/deps.js';
import { readLegacyBody } from '../../http/body.js';
import { sendBodyError } from '../../http/errors.js';
import { httpSurfaceFromEnv, type HttpSurfaceOptions } from '../../http/legacy-surface.js';
import { legacyReply, type LegacyReply } from '../../http/reply.js';
import { sendPreflight } from '../../http/preflight.js';
import type { PipelineStage } from '../../http/legacy-headers.js';

/**
 * The part of the legacy's app-level pipeline every read-only route shares: the Content-Length
 * pre-check (413 before a request id exists), the request id, body parsing (malformed JSON →
 * the global error handler's 400), then the route handler with a reply bound to this request.
 */
export interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  ctx: MigratedRequestContext;
  requestId: string;
  /** Parsed body (`{}` when none / not JSON). */
  body: unknown;
  /** URL as sent (path + query): the legacy's req.originalUrl. */
  originalUrl: string;
  surface: HttpSurfaceOptions;
  /** A fresh reply with the envelope of `stage` (default `routed`). */
  reply(stage?: PipelineStage): LegacyReply;
  nowIso(): string;
}

export type RouteHandler = (call: RouteCall) => Promise<void>;

/**
 * `beforeBody`: called once the headers are in, before the body is read (the API-key routes start their
 * key lookup there, so it overlaps the body's arrival).
 */
export function legacyRoute(
  deps: MigratedDeps,
  handler: RouteHandler,
  surface: HttpSurfaceOptions = httpSurfaceFromEnv(),
  beforeBody?: (req: IncomingMessage, originalUrl: string) => void,
) {
  return async (req: IncomingMessage, res: ServerResponse, ctx: MigratedRequestContext): Promise<void> => {
    const nowIso = () => new Date(deps.clock.now()).toISOString();
    const originalUrl = req.url ?? '/';
    if (req.method === 'OPTIONS') {
      sendPreflight(req, res, surface);
      return;
    }
    beforeBody?.(req, originalUrl);
    const first = await readLegacyBody(req, surface);
    if (!first.ok && first.kind === 'precheck') {
      sendBodyError(req, res, first, { requestId: '', surface, nowIso: nowIso() });
      return;
    }
    const requestId = deps.ids.requestId();
    if (!first.ok) {
      sendBodyError(req, res, first, { requestId, surface, nowIso: nowIso() });
      return;
    }
    await handler({
      req,
      res,
      ctx,
      requestId,
      body: first.body,
      originalUrl,
      surface,
      reply: (stage) => legacyReply(req, res, { requestId, surface, stage: stage ?? 'routed' }),
      nowIso,
    });
  };
}
