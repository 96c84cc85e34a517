import * as v from 'valibot';
import { BytesSchema } from './bytes.js';

/**
 * One recorded exchange (format `crs-compat-exchange/1`, documented in compat-tests/FORMAT.md).
 * Everything the migrated side needs to be replayed, and everything the legacy did, in one file.
 */
export const EXCHANGE_FORMAT = 'crs-compat-exchange/1';

/** Flat raw header list as Node gives it: [name, value, name, value, ...] in wire order and case. */
const RawHeaders = v.array(v.string());

const Chunk = v.strictObject({ tMs: v.number(), bytes: v.pipe(v.number(), v.integer(), v.minValue(0)) });

export const RedisEntrySchema = v.looseObject({
  type: v.picklist(['string', 'hash', 'list', 'set', 'zset', 'stream']),
  /** Seconds to live when snapshotted; -1 none. */
  ttl: v.number(),
  value: v.unknown(),
});
export type RedisEntry = v.InferOutput<typeof RedisEntrySchema>;
export const RedisSnapshotSchema = v.record(v.string(), RedisEntrySchema);
export type RedisSnapshot = v.InferOutput<typeof RedisSnapshotSchema>;

export const PgTableSchema = v.looseObject({
  primaryKey: v.array(v.string()),
  rows: v.record(v.string(), v.record(v.string(), v.unknown())),
});
export const PgSnapshotSchema = v.record(v.string(), PgTableSchema);
export type PgSnapshot = v.InferOutput<typeof PgSnapshotSchema>;

export const UpstreamExchangeSchema = v.strictObject({
  method: v.string(),
  /** Path and query as the upstream saw it. */
  url: v.string(),
  /** Host the service meant to reach (TLS SNI for proxied calls, Host header otherwise). */
  host: v.nullable(v.string()),
  via: v.string(),
  rawHeaders: RawHeaders,
  body: BytesSchema,
  /** What the upstream answered. Imported traces only know the status (the mock is deterministic). */
  response: v.strictObject({
    status: v.number(),
    rawHeaders: v.optional(RawHeaders),
    body: v.optional(BytesSchema),
    chunks: v.optional(v.array(Chunk)),
  }),
});
export type UpstreamExchange = v.InferOutput<typeof UpstreamExchangeSchema>;

export const ExchangeSchema = v.strictObject({
  format: v.literal(EXCHANGE_FORMAT),
  name: v.string(),
  note: v.nullable(v.string()),
  source: v.strictObject({
    kind: v.picklist(['legacy-traces-import', 'recorder']),
    base: v.string(),
    /** Where it came from (trace folder, scenario file). */
    origin: v.string(),
    /** The backend process died during/after the exchange (legacy crash recorded as fact). */
    backendDied: v.optional(v.boolean()),
  }),
  clock: v.strictObject({
    /** Epoch ms just before the request was sent. */
    startMs: v.number(),
    startIso: v.string(),
    timezoneOffsetHours: v.number(),
    /** Request start to the "after" snapshot, ms (bounds how far TTLs and timestamps may move). */
    elapsedMs: v.number(),
  }),
  request: v.strictObject({
    method: v.string(),
    /** Path and query, as sent. */
    path: v.string(),
    rawHeaders: RawHeaders,
    body: BytesSchema,
  }),
  /**
   * Requests started before this one and still in flight while it runs (concurrency cases): each is
   * sent, then `leadMs` waited, in order; their answers are not recorded, their side effects and
   * upstream calls are part of this exchange's.
   */
  background: v.optional(
    v.array(
      v.strictObject({
        leadMs: v.number(),
        request: v.strictObject({ method: v.string(), path: v.string(), rawHeaders: RawHeaders, body: BytesSchema }),
      }),
    ),
  ),
  /** The client hung up on purpose: N ms after the response head arrived, or N ms after sending (before any answer). */
  clientAbort: v.optional(
    v.strictObject({ afterResponseMs: v.optional(v.number()), afterSendMs: v.optional(v.number()) }),
  ),
  response: v.strictObject({
    status: v.number(),
    statusMessage: v.string(),
    rawHeaders: RawHeaders,
    body: BytesSchema,
    chunks: v.array(Chunk),
    timing: v.strictObject({ ttfbMs: v.nullable(v.number()), totalMs: v.nullable(v.number()) }),
  }),
  upstream: v.array(UpstreamExchangeSchema),
  redis: v.strictObject({ before: RedisSnapshotSchema, after: RedisSnapshotSchema }),
  pg: v.nullable(v.strictObject({ before: PgSnapshotSchema, after: PgSnapshotSchema })),
});
export type Exchange = v.InferOutput<typeof ExchangeSchema>;

export function parseExchange(data: unknown, where: string): Exchange {
  const r = v.safeParse(ExchangeSchema, data);
  if (r.success) return r.output;
  const issue = r.issues[0]!;
  const path = issue.path?.map((p) => String(p.key)).join('.') ?? '(root)';
  throw new Error(`${where}: invalid exchange at ${path}: ${issue.message}`);
}

/** Header value by case-insensitive name from a flat raw list (first occurrence). */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) return raw[i + 1];
  return undefined;
}
