import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as v from 'valibot';
import { encodeBytes } from '../format/bytes.js';
import { MockLogEntrySchema, upstreamFromLog } from '../format/mock-log.js';
import { concretize, holdsOf, varsFromRecorded, type Scenario } from '../record/scenarios.js';
import {
  EXCHANGE_FORMAT,
  PgSnapshotSchema,
  RedisSnapshotSchema,
  type Exchange,
  type RedisSnapshot,
  type UpstreamExchange,
} from '../format/exchange.js';

/**
 * Converter from the shared trace folders (`../shared/legacy-traces/<name>/`, format in that
 * folder's README) to our exchange format. Nothing is dropped: bytes stay bytes, header order
 * stays order; the one thing the traces lack (upstream response bodies) is left out and the
 * replay mock regenerates it deterministically.
 */

const TraceRequest = v.object({
  method: v.string(),
  url: v.string(),
  headers: v.record(v.string(), v.string()),
  body: v.optional(v.nullable(v.string())),
});
const TraceResponse = v.object({
  status: v.number(),
  statusMessage: v.optional(v.string(), ''),
  rawHeaders: v.array(v.string()),
  timing: v.optional(
    v.object({ ttfbMs: v.optional(v.nullable(v.number()), null), totalMs: v.optional(v.nullable(v.number()), null) }),
  ),
});
const TraceChunks = v.array(v.object({ tMs: v.number(), bytes: v.number() }));
const TraceMeta = v.object({
  name: v.string(),
  note: v.optional(v.nullable(v.string()), null),
  base: v.string(),
  capturedAt: v.string(),
  elapsedSec: v.number(),
  serverAliveAfter: v.optional(v.boolean()),
  heldConcurrentRequest: v.optional(v.unknown()),
  clientAbortAfterMs: v.optional(v.number()),
  clientAbortAtMs: v.optional(v.number()),
  heldConcurrentRequests: v.optional(v.array(v.unknown())),
});
const TraceUpstream = v.array(MockLogEntrySchema);

function readJson<T extends v.GenericSchema>(schema: T, file: string): v.InferOutput<T> {
  const r = v.safeParse(schema, JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) {
    const i = r.issues[0]!;
    throw new Error(`${file}: ${i.path?.map((p) => String(p.key)).join('.') ?? '(root)'}: ${i.message}`);
  }
  return r.output;
}

function fileBytes(file: string): Buffer {
  return existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
}

/** "Name: value" lines -> flat [name, value, ...]. */
export function splitHeaderLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const at = line.indexOf(':');
    if (at < 0) throw new Error(`not a header line: ${JSON.stringify(line)}`);
    out.push(line.slice(0, at), line.slice(at + 1).replace(/^ /, ''));
  }
  return out;
}

export interface ImportOptions {
  /** Legacy TIMEZONE_OFFSET the traces were recorded with (their README: 8). */
  timezoneOffsetHours?: number;
  /**
   * The scenario list the traces were recorded from. Needed only for exchanges that held other
   * requests in flight (`holdWith`): their bytes are rebuilt from the scenario, with `${VAR}`
   * values recovered from the recorded request.
   */
  scenarios?: Scenario[];
}

/** The latest ISO timestamp written during the exchange (present after, absent before), epoch ms; 0 if none. */
function latestNewTime(before: RedisSnapshot, after: RedisSnapshot): number {
  const seen = (s: RedisSnapshot) => new Set(JSON.stringify(s).match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g) ?? []);
  const old = seen(before);
  let latest = 0;
  for (const t of seen(after)) if (!old.has(t)) latest = Math.max(latest, Date.parse(t));
  return latest;
}

function scenarioFor(name: string, scenarios: Scenario[] | undefined): Scenario | undefined {
  if (!scenarios) return undefined;
  return scenarios.find((s) => s.name === name) ?? scenarios.find((s) => s.name === name.replace(/^\d+-/, ''));
}

export function importTraceFolder(dir: string, opts: ImportOptions = {}): Exchange {
  const meta = readJson(TraceMeta, join(dir, 'meta.json'));
  const req = readJson(TraceRequest, join(dir, 'request.json'));
  const res = readJson(TraceResponse, join(dir, 'response.json'));
  const chunks = readJson(TraceChunks, join(dir, 'response.chunks.json'));
  const upstream = readJson(TraceUpstream, join(dir, 'upstream.json'));
  const url = new URL(req.url);
  const startMs = Date.parse(meta.capturedAt);
  const reqBody = existsSync(join(dir, 'request.body'))
    ? fileBytes(join(dir, 'request.body'))
    : Buffer.from(req.body ?? '', 'utf8');
  const pgBefore = existsSync(join(dir, 'pg.before.json'))
    ? readJson(PgSnapshotSchema, join(dir, 'pg.before.json'))
    : null;
  const pgAfter = existsSync(join(dir, 'pg.after.json')) ? readJson(PgSnapshotSchema, join(dir, 'pg.after.json')) : null;

  const up: UpstreamExchange[] = upstream.map(upstreamFromLog);


  const request = {
    method: req.method,
    path: url.pathname + url.search,
    rawHeaders: Object.entries(req.headers).flat(),
    body: encodeBytes(reqBody),
  };
  const redisBefore = readJson(RedisSnapshotSchema, join(dir, 'redis.before.json'));
  const redisAfter = readJson(RedisSnapshotSchema, join(dir, 'redis.after.json'));
  const held = meta.heldConcurrentRequests ?? (meta.heldConcurrentRequest ? [meta.heldConcurrentRequest] : []);
  let background: Exchange['background'];
  let note = meta.note ?? null;
  if (held.length) {
    const sc = scenarioFor(meta.name, opts.scenarios);
    const holds = sc ? holdsOf(sc) : [];
    if (holds.length) {
      const vars = varsFromRecorded(sc!, { path: request.path, rawHeaders: request.rawHeaders });
      background = holds.map((h) => {
        const c = concretize({ ...h, name: h.name }, vars, {});
        return { leadMs: h.startMs, request: { method: c.method, path: c.path, rawHeaders: [...c.rawHeaders, 'connection', 'keep-alive'], body: encodeBytes(c.body) } };
      });
    } else {
      note = `${note ?? ''}${note ? ' ' : ''}[held concurrent request(s) not in the trace: import with --scenarios to replay them]`;
    }
  }

  return {
    format: EXCHANGE_FORMAT,
    name: meta.name,
    note,
    source: {
      kind: 'legacy-traces-import',
      base: meta.base,
      origin: `${basename(dirname(dir))}/${basename(dir)}`,
      ...(meta.serverAliveAfter === false ? { backendDied: true } : {}),
    },
    clock: {
      startMs,
      startIso: new Date(startMs).toISOString(),
      timezoneOffsetHours: opts.timezoneOffsetHours ?? 8,
      elapsedMs: Math.max(
        meta.elapsedSec * 1000,
        res.timing?.totalMs ?? 0,
        // held requests run past the main response; the writes they stamped show how long
        background ? latestNewTime(redisBefore, redisAfter) - startMs : 0,
      ),
    },
    request,
    ...(background ? { background } : {}),
    ...(meta.clientAbortAfterMs !== undefined || meta.clientAbortAtMs !== undefined
      ? {
          clientAbort: {
            ...(meta.clientAbortAfterMs !== undefined ? { afterResponseMs: meta.clientAbortAfterMs } : {}),
            ...(meta.clientAbortAtMs !== undefined ? { afterSendMs: meta.clientAbortAtMs } : {}),
          },
        }
      : {}),
    response: {
      status: res.status,
      statusMessage: res.statusMessage,
      rawHeaders: splitHeaderLines(res.rawHeaders),
      body: encodeBytes(fileBytes(join(dir, 'response.body'))),
      chunks,
      timing: { ttfbMs: res.timing?.ttfbMs ?? null, totalMs: res.timing?.totalMs ?? null },
    },
    upstream: up,
    redis: { before: redisBefore, after: redisAfter },
    pg: pgBefore && pgAfter ? { before: pgBefore, after: pgAfter } : null,
  };
}

/** Trace folders in recording order (INDEX.md order = numeric prefixes, then admin a*). */
export function listTraceFolders(root: string): string[] {
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'meta.json')))
    .map((d) => d.name)
    .sort();
}

export function importTraces(root: string, opts: ImportOptions = {}): Exchange[] {
  return listTraceFolders(root).map((name) => importTraceFolder(join(root, name), opts));
}
