import { STATUS_CODES } from 'node:http';
import { EXCHANGE_FORMAT, type Exchange } from '../../../compat-tests/engine/format/exchange.js';
import { encodeBytes } from '../../../compat-tests/engine/format/bytes.js';
import type { ShadowDetail, ShadowRecord } from '../results/record.js';

/**
 * A captured shadow difference as a compat exchange (format crs-compat-exchange/1): the client
 * request, the PRIMARY's response as the expected answer, the primary's upstream exchanges as
 * recorded by the upstream tap, and Redis before/after restricted to the keys either side
 * touched (before = the state the candidate started from; after = the primary's result).
 * Replaying it offline checks the candidate against what the primary did.
 */

function hostOf(raw: string[]): string | null {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') return raw[i + 1]!;
  return null;
}

export function shadowRecordToExchange(r: ShadowRecord, name = `shadow-${r.id}`, timezoneOffsetHours = 8): Exchange {
  if (!r.detail) throw new Error(`shadow exchange ${r.id} has no captured bytes (only differing exchanges keep them)`);
  const note = `captured by shadow mode on route ${r.routeId} (${r.primary} primary vs ${r.candidate}): ${r.firstDivergence ?? 'no divergence'}`;
  return detailToExchange(r.detail, { name, note, origin: `shadow:${r.routeId}/${r.id}`, timezoneOffsetHours });
}

export function detailToExchange(d: ShadowDetail, meta: { name: string; note: string; origin: string; timezoneOffsetHours: number }): Exchange {
  const p = d.primaryResponse;
  return {
    format: EXCHANGE_FORMAT,
    name: meta.name,
    note: meta.note,
    source: { kind: 'recorder', base: 'shadow', origin: meta.origin },
    clock: {
      startMs: d.request.receivedAt,
      startIso: new Date(d.request.receivedAt).toISOString(),
      timezoneOffsetHours: meta.timezoneOffsetHours,
      elapsedMs: Math.max(0, Math.round(d.elapsedMs)),
    },
    request: {
      method: d.request.method,
      path: d.request.url,
      rawHeaders: d.request.rawHeaders,
      body: encodeBytes(d.request.body),
    },
    response: {
      status: p.status,
      statusMessage: STATUS_CODES[p.status] ?? '',
      rawHeaders: p.rawHeaders,
      body: encodeBytes(p.body),
      chunks: p.chunks.map((c) => ({ tMs: Math.round(c.atMs * 1000) / 1000, bytes: c.data.length })),
      timing: { ttfbMs: p.ttfbMs, totalMs: p.durationMs },
    },
    upstream: d.primaryUpstream.map((u) => ({
      method: u.request.method,
      url: u.request.url,
      host: hostOf(u.request.rawHeaders),
      via: 'shadow-upstream-tap',
      rawHeaders: u.request.rawHeaders,
      body: encodeBytes(u.request.body),
      response: {
        status: u.status,
        rawHeaders: u.rawHeaders,
        body: encodeBytes(Buffer.concat(u.chunks.map((c) => c.bytes))),
        chunks: u.chunks.map((c) => ({ tMs: c.tMs, bytes: c.bytes.length })),
      },
    })),
    redis: { before: d.redis?.before ?? {}, after: d.redis?.primaryAfter ?? {} } as Exchange['redis'],
    pg: null,
  };
}
