import type { ServerResponse } from 'node:http';

/**
 * The gateway's own error answers, in the legacy's error shape
 * (`{"error":"<label>","message":"<text>","timestamp":"<ISO>"}`, as its 404 handler and relay catch blocks write:
 * legacy-contract responses-and-errors.md §7.1, §8.5), with Express's JSON content type.
 */
/** Returns the body bytes written (0 when the response could only be destroyed). */
export function writeJsonError(res: ServerResponse, status: number, error: string, message: string, nowMs: number): number {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return 0;
  }
  const body = Buffer.from(JSON.stringify({ error, message, timestamp: new Date(nowMs).toISOString() }));
  res.writeHead(status, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(body.length)]);
  res.end(body);
  return body.length;
}

export type LegacyFailure = 'unreachable' | 'timeout' | 'reset';

/** 502 for an unreachable / resetting legacy, 504 for a timeout (nginx's proxy_read_timeout equivalent). */
export function writeLegacyFailure(res: ServerResponse, kind: LegacyFailure, detail: string, nowMs: number): number {
  if (kind === 'timeout') return writeJsonError(res, 504, 'Gateway Timeout', `Legacy service timed out: ${detail}`, nowMs);
  return writeJsonError(res, 502, 'Bad Gateway', `Legacy service unavailable: ${detail}`, nowMs);
}
