import type { Redis } from 'ioredis';
import type { Sql } from 'postgres';
import { dumpRedisSnapshot } from '../../../test-support/redis-snapshot.js';
import { encodeBytes } from '../format/bytes.js';
import { EXCHANGE_FORMAT, type Exchange, type PgSnapshot, type RedisSnapshot } from '../format/exchange.js';
import { isListening, sendCaptured, wireHeaders, type ClientAbort } from './http-capture.js';
import { dumpPgSnapshot } from './pg-snapshot.js';
import type { ConcreteRequest } from './scenarios.js';
import { mockSeq, upstreamSince } from './upstream-capture.js';

/**
 * Records one exchange against a live backend: snapshot (Redis, PG) → request → wait until the
 * backend's after-response writes settle (at least `settleMs`, then until two snapshots in a row
 * are equal) → snapshot, plus whatever the mock upstream received in between.
 */
export interface RecorderTarget {
  base: string;
  redis: Redis;
  pg: { sql: Sql; schema: string } | null;
  /** Mock upstream base URL to read `/__mock/requests` from (null: upstream not captured). */
  mock: string | null;
  timezoneOffsetHours: number;
  settleMs: number;
  /** Give up waiting for stability after this long (the last snapshot is used). */
  settleMaxMs: number;
  origin: string;
}

async function snapshot(t: RecorderTarget): Promise<{ redis: RedisSnapshot; pg: PgSnapshot | null }> {
  const redis = (await dumpRedisSnapshot(t.redis)) as RedisSnapshot;
  const pg = t.pg ? await dumpPgSnapshot(t.pg.sql, t.pg.schema) : null;
  return { redis, pg };
}

/** TTLs count down between two snapshots: compare values and which keys have a TTL, not the seconds. */
function stableView(s: { redis: RedisSnapshot; pg: PgSnapshot | null }): string {
  const r = Object.fromEntries(Object.entries(s.redis).map(([k, e]) => [k, { type: e.type, value: e.value, ttl: e.ttl > 0 }]));
  return JSON.stringify({ r, pg: s.pg });
}

export async function recordExchange(
  t: RecorderTarget,
  req: ConcreteRequest,
  background: Array<{ leadMs: number; request: ConcreteRequest }> = [],
  clientAbort?: ClientAbort,
): Promise<Exchange> {
  const before = await snapshot(t);
  const seq = t.mock ? await mockSeq(t.mock) : 0;
  const startMs = Date.now();
  const held: Array<Promise<unknown>> = [];
  for (const b of background) {
    held.push(sendCaptured(t.base, b.request));
    await new Promise((r) => setTimeout(r, b.leadMs));
  }
  const res = await sendCaptured(t.base, req, 60_000, clientAbort ?? {});
  await Promise.all(held);
  // after a hang-up the service notices late: give it 1.5 s before the first snapshot
  await new Promise((r) => setTimeout(r, clientAbort ? Math.max(1500, t.settleMs) : t.settleMs));
  let after = await snapshot(t);
  const giveUp = Date.now() + t.settleMaxMs;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const again = await snapshot(t);
    const stable = stableView(again) === stableView(after);
    after = again;
    if (stable || Date.now() > giveUp) break;
  }
  const elapsedMs = Date.now() - startMs;
  const upstream = t.mock ? await upstreamSince(t.mock, seq) : [];
  const alive = await isListening(t.base);
  return {
    format: EXCHANGE_FORMAT,
    name: req.name,
    note: req.note ?? (res.error ? `client saw: ${res.error}` : null),
    source: { kind: 'recorder', base: t.base, origin: t.origin, ...(alive ? {} : { backendDied: true }) },
    clock: { startMs, startIso: new Date(startMs).toISOString(), timezoneOffsetHours: t.timezoneOffsetHours, elapsedMs },
    request: { method: req.method, path: req.path, rawHeaders: wireHeaders(t.base, req.rawHeaders), body: encodeBytes(req.body) },
    ...(background.length
      ? {
          background: background.map((b) => ({
            leadMs: b.leadMs,
            request: { method: b.request.method, path: b.request.path, rawHeaders: wireHeaders(t.base, b.request.rawHeaders), body: encodeBytes(b.request.body) },
          })),
        }
      : {}),
    ...(clientAbort ? { clientAbort } : {}),
    response: {
      status: res.status,
      statusMessage: res.statusMessage,
      rawHeaders: res.rawHeaders,
      body: encodeBytes(res.body),
      chunks: res.chunks,
      timing: { ttfbMs: res.ttfbMs, totalMs: res.totalMs },
    },
    upstream,
    redis: { before: before.redis, after: after.redis },
    pg: before.pg && after.pg ? { before: before.pg, after: after.pg } : null,
  };
}
