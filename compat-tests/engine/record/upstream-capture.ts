import * as v from 'valibot';
import { encodeBytes } from '../format/bytes.js';
import type { UpstreamExchange } from '../format/exchange.js';

/**
 * Reads what a mock upstream received, through its `/__mock/requests?since=SEQ` endpoint. Works
 * with the lab mock (request + status) and with ours (request + full answer: headers, bytes, chunks).
 */
const Entry = v.looseObject({
  seq: v.number(),
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
const Answer = v.object({ seq: v.number(), requests: v.array(Entry) });

export async function mockSeq(mockBase: string): Promise<number> {
  const res = await fetch(new URL('/__mock/health', mockBase));
  const body = (await res.json()) as { seq?: unknown };
  if (typeof body.seq !== 'number') throw new Error(`${mockBase}/__mock/health: no seq (is it a mock upstream?)`);
  return body.seq;
}

export async function upstreamSince(mockBase: string, since: number): Promise<UpstreamExchange[]> {
  const res = await fetch(new URL(`/__mock/requests?since=${since}`, mockBase));
  const parsed = v.parse(Answer, await res.json());
  return parsed.requests
    .sort((a, b) => a.seq - b.seq)
    .map((e) => ({
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
    }));
}
