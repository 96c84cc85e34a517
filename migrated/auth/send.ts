import type { IncomingMessage, ServerResponse } from 'node:http';
import { legacyReply, type ReplyOptions } from '../http/reply.js';

/**
 * Write an auth rejection (API key or admin) the way the legacy's middleware did:
 * envelope, then the rejection's own headers (e.g. Retry-After), then the JSON body.
 */
export function sendAuthRejection(
  req: IncomingMessage,
  res: ServerResponse,
  rejection: { status: number; headers: ReadonlyArray<readonly [string, string]>; body: Record<string, unknown> },
  reply: ReplyOptions,
): void {
  const out = legacyReply(req, res, reply);
  out.headers.merge(rejection.headers);
  out.json(rejection.status, rejection.body);
}
