import type { ServerResponse } from 'node:http';

/**
 * The gateway's own error answers, in the legacy's error shape
 * (`{"error":"<label>","message":"<text>","timestamp":"<ISO>"}`, as its 404 handler and relay catch blocks write:
 * legacy-contract responses-and-errors.md §7.1, §8.5), with Express's JSON content type.
 */
export function writeJsonError(res: ServerResponse, status: number, error: string, message: string, nowMs: number): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = Buffer.from(JSON.stringify({ error, message, timestamp: new Date(nowMs).toISOString() }));
  res.writeHead(status, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(body.length)]);
  res.end(body);
}

export type LegacyFailure = 'unreachable' | 'timeout' | 'reset';

/** 502 for an unreachable / resetting legacy, 504 for a timeout (nginx's proxy_read_timeout equivalent). */
export function writeLegacyFailure(res: ServerResponse, kind: LegacyFailure, detail: string, nowMs: number): void {
  if (kind === 'timeout') writeJsonError(res, 504, 'Gateway Timeout', `Legacy service timed out: ${detail}`, nowMs);
  else writeJsonError(res, 502, 'Bad Gateway', `Legacy service unavailable: ${detail}`, nowMs);
}
