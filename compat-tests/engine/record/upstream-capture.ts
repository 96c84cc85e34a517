import * as v from 'valibot';
import type { UpstreamExchange } from '../format/exchange.js';
import { MockLogEntrySchema, upstreamFromLog } from '../format/mock-log.js';

/**
 * Reads what a mock upstream received, through its `/__mock/requests?since=SEQ` endpoint. Works
 * with the lab mock (request + status) and with ours (request + full answer: headers, bytes, chunks).
 */
const Answer = v.object({ seq: v.number(), requests: v.array(v.looseObject({ seq: v.number(), ...MockLogEntrySchema.entries })) });

export async function mockSeq(mockBase: string): Promise<number> {
  const res = await fetch(new URL('/__mock/health', mockBase));
  const body = (await res.json()) as { seq?: unknown };
  if (typeof body.seq !== 'number') throw new Error(`${mockBase}/__mock/health: no seq (is it a mock upstream?)`);
  return body.seq;
}

export async function upstreamSince(mockBase: string, since: number): Promise<UpstreamExchange[]> {
  const res = await fetch(new URL(`/__mock/requests?since=${since}`, mockBase));
  const parsed = v.parse(Answer, await res.json());
  return parsed.requests.sort((a, b) => a.seq - b.seq).map(upstreamFromLog);
}
