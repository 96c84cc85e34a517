import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorHandlerBody, precheckTooLargeBody, type BodyResult } from './body.js';
import type { HttpSurfaceOptions } from './legacy-surface.js';
import { legacyReply } from './reply.js';

/** Answer a failed body read exactly as the legacy did (413 pre-check or the global error handler). */
export function sendBodyError(
  req: IncomingMessage,
  res: ServerResponse,
  result: Extract<BodyResult, { ok: false }>,
  ctx: { requestId: string; surface: HttpSurfaceOptions; nowIso: string },
): void {
  if (result.kind === 'precheck') {
    legacyReply(req, res, { requestId: ctx.requestId, surface: ctx.surface, stage: 'before-logger' }).json(413, precheckTooLargeBody());
    return;
  }
  const status = result.status >= 400 && result.status < 600 ? result.status : 500;
  legacyReply(req, res, { requestId: ctx.requestId, surface: ctx.surface, stage: 'after-logger' }).json(
    status,
    errorHandlerBody(result, ctx.requestId, ctx.nowIso, ctx.surface),
  );
}

/** The app-level 404 body: `Route <originalUrl incl. query> not found`. */
export function notFoundBody(originalUrl: string, nowIso: string): Record<string, unknown> {
  return { error: 'Not Found', message: `Route ${originalUrl} not found`, timestamp: nowIso };
}
