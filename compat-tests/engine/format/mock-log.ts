import * as v from 'valibot';
import { encodeBytes } from './bytes.js';
import type { UpstreamExchange } from './exchange.js';

/**
 * One entry of a mock upstream's request log (`/__mock/requests`, the shared traces'
 * `upstream.json`): the lab mock's fields, plus the answer when our mock recorded it.
 */
export const MockLogEntrySchema = v.looseObject({
  via: v.optional(v.string(), 'http'),
  sni: v.optional(v.nullable(v.string()), null),
  method: v.string(),
  url: v.string(),
  headers: v.record(v.string(), v.unknown()),
  rawHeaders: v.array(v.string()),
  bodyRaw: v.string(),
  bodyBase64: v.optional(v.string()),
  status: v.number(),
  response: v.optional(
    v.object({
      status: v.number(),
      rawHeaders: v.array(v.string()),
      bodyBase64: v.string(),
      chunks: v.array(v.object({ tMs: v.number(), bytes: v.number() })),
    }),
  ),
});
export type MockLogEntry = v.InferOutput<typeof MockLogEntrySchema>;

export function upstreamFromLog(e: MockLogEntry): UpstreamExchange {
  return {
    method: e.method,
    url: e.url,
    host: e.sni ?? (typeof e.headers['host'] === 'string' ? (e.headers['host'] as string) : null),
    via: e.via,
    rawHeaders: e.rawHeaders,
    body: e.bodyBase64 !== undefined ? encodeBytes(Buffer.from(e.bodyBase64, 'base64')) : encodeBytes(e.bodyRaw),
    response: e.response
      ? {
          status: e.response.status,
          rawHeaders: e.response.rawHeaders,
          body: encodeBytes(Buffer.from(e.response.bodyBase64, 'base64')),
          chunks: e.response.chunks,
        }
      : { status: e.status },
  };
}
