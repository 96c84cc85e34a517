import { createHash } from 'node:crypto';
import { decodeBytes } from '../format/bytes.js';
import type { Exchange, PgSnapshot, RedisSnapshot, UpstreamExchange } from '../format/exchange.js';
import type { CompiledNoise } from '../noise/rules.js';
import { emptyTally, type Difference, type IgnoredTally } from '../report/model.js';
import { difference, type DiffContext } from './context.js';
import { compareHeaders } from './headers.js';
import { comparePg } from './pg.js';
import { bodyView, compareResponseBody } from './encoded-body.js';
import { compareRedis, touched } from './redis.js';
import { compareBytes, compareText } from './text.js';
import { Binder, bindTokens } from './variables.js';

/** What the other side did for the same request (a replay, or a second legacy recording). */
export interface Observed {
  response: { status: number; rawHeaders: string[]; body: Buffer };
  upstream: UpstreamExchange[];
  redisAfter: RedisSnapshot;
  pgAfter: PgSnapshot | null;
  /** The other side's pre-state and request, when it differs from the recording's (learning from two recordings). */
  before?: { request: Exchange['request']; redis: RedisSnapshot; pg: PgSnapshot | null };
  /** When the observed run started (epoch ms); default: the recorded start (a replay under a frozen clock). */
  startMs?: number;
}

export interface ExchangeDiff {
  differences: Difference[];
  ignored: IgnoredTally;
  /** Response bodies as text, for the side-by-side report. */
  firstBodyDivergence: number | null;
}

function touchedRows(before: PgSnapshot, after: PgSnapshot): PgSnapshot {
  const out: PgSnapshot = {};
  for (const [t, tab] of Object.entries(after)) {
    const rows: PgSnapshot[string]['rows'] = {};
    for (const [k, r] of Object.entries(tab.rows)) if (JSON.stringify(before[t]?.rows[k]) !== JSON.stringify(r)) rows[k] = r;
    out[t] = { ...tab, rows };
  }
  return out;
}

function fixedIds(noise: CompiledNoise, ex: Exchange, other?: Observed['before']): Set<string> {
  const collect = (req: Exchange['request'], redis: RedisSnapshot, pg: PgSnapshot | null): Set<string> => {
    const s = new Set<string>();
    bindTokens(req.path, noise, s);
    bindTokens(req.rawHeaders.join('\n'), noise, s);
    bindTokens(decodeBytes(req.body).toString('utf8'), noise, s);
    for (const [k, e] of Object.entries(redis)) {
      bindTokens(k, noise, s);
      bindTokens(JSON.stringify(e.value), noise, s);
    }
    if (pg) bindTokens(JSON.stringify(pg), noise, s);
    return s;
  };
  const mine = collect(ex.request, ex.redis.before, ex.pg?.before ?? null);
  if (!other) return mine;
  const theirs = collect(other.request, other.redis, other.pg);
  return new Set([...mine].filter((x) => theirs.has(x)));
}

/** Everything observable, recorded vs observed: response, upstream requests, Redis, PostgreSQL. */
export function diffExchange(ex: Exchange, obs: Observed, noise: CompiledNoise, opts: { slackMs?: number } = {}): ExchangeDiff {
  const recordedBody = decodeBytes(ex.response.body);
  const view = bodyView(ex.response.rawHeaders, obs.response.rawHeaders, recordedBody, obs.response.body);
  // the body the client reads: Express's ETag is computed before compression, so it follows the decoded body
  const observedBody = view.kind === 'decoded' ? view.actual : obs.response.body;
  const ctx: DiffContext = {
    noise,
    binder: new Binder(fixedIds(noise, ex, obs.before)),
    tally: emptyTally(),
    toleranceMs: ex.clock.elapsedMs + (opts.slackMs ?? 2000),
    timeShiftMs: obs.startMs !== undefined ? obs.startMs - ex.clock.startMs : 0,
    derived: {
      'etag-of-body': `W/"${observedBody.length.toString(16)}-${createHash('sha1').update(observedBody).digest('base64').slice(0, 27)}"`,
      // Content-Length counts the bytes sent (compressed, when encoded)
      'length-of-body': String(obs.response.body.length),
    },
  };
  const diffs: Difference[] = [];
  // response
  if (ex.response.status !== obs.response.status)
    diffs.push(...compareText(ctx, 'response.status', String(ex.response.status), String(obs.response.status)));
  diffs.push(...compareHeaders(ctx, 'response.header', ex.response.rawHeaders, obs.response.rawHeaders));
  const bodyDiffs = compareResponseBody(ctx, view, recordedBody, obs.response.body);
  diffs.push(...bodyDiffs);
  // upstream, in order
  const n = Math.max(ex.upstream.length, obs.upstream.length);
  for (let i = 0; i < n; i++) {
    const e = ex.upstream[i];
    const a = obs.upstream[i];
    const base = `upstream[${i}]`;
    if (!e || !a) {
      const show = (u: UpstreamExchange) => `${u.method} ${u.host ?? ''}${u.url}`;
      if (!ctx.noise.ruleFor(base)) diffs.push(difference(base, e ? 'missing' : 'extra', e && show(e), a && show(a)));
      continue;
    }
    diffs.push(...compareText(ctx, `${base}.method`, e.method, a.method));
    diffs.push(...compareText(ctx, `${base}.url`, e.url, a.url));
    diffs.push(...compareHeaders(ctx, `${base}.header`, e.rawHeaders, a.rawHeaders));
    diffs.push(...compareBytes(ctx, `${base}.body`, decodeBytes(e.body), decodeBytes(a.body)));
  }
  // side effects
  const tolSec = Math.ceil(ctx.toleranceMs / 1000);
  // Two runs from different pre-states (learning): compare what each exchange changed. A replay
  // starts from the recorded pre-state, so the whole after-state is compared.
  const eRedis = obs.before ? touched(ex.redis.before, ex.redis.after) : ex.redis.after;
  const aRedis = obs.before ? touched(obs.before.redis, obs.redisAfter) : obs.redisAfter;
  diffs.push(...compareRedis(ctx, eRedis, aRedis, tolSec, obs.before ? undefined : ex.redis.before));
  // no PostgreSQL state on the other side (replay without a PG schema): not compared, the replayer says so
  if (ex.pg && obs.pgAfter) {
    const ePg = obs.before?.pg ? touchedRows(ex.pg.before, ex.pg.after) : ex.pg.after;
    const aPg = obs.before?.pg ? touchedRows(obs.before.pg, obs.pgAfter) : obs.pgAfter;
    diffs.push(...comparePg(ctx, ePg, aPg));
  }
  // an id is ONE variable: once it became another id, the old one may appear nowhere on the observed side
  const renamed = ctx.binder.renamed();
  if (renamed.length) {
    const places: Array<[string, string]> = [
      [view.kind === 'decoded' ? `response.body(decoded ${view.encoding})` : 'response.body', observedBody.toString('utf8')],
      ['response.header', obs.response.rawHeaders.join('\n')],
      ...obs.upstream.map((u, i): [string, string] => [`upstream[${i}]`, `${u.url}\n${u.rawHeaders.join('\n')}\n${decodeBytes(u.body).toString('utf8')}`]),
      ...Object.entries(obs.redisAfter).map(([k, e]): [string, string] => [`redis.${k}`, `${k}\n${JSON.stringify(e.value)}`]),
      ...(obs.pgAfter ? Object.entries(obs.pgAfter).map(([t, tab]): [string, string] => [`pg.${t}`, JSON.stringify(tab.rows)]) : []),
    ];
    for (const [e, a] of renamed) {
      const where = places.find(([, text]) => text.includes(e));
      if (where) diffs.push(difference(where[0], 'changed', e, a, { detail: [`recorded id ${e} became ${a} elsewhere, but ${where[0]} still holds ${e}`] }));
    }
  }
  const first = bodyDiffs.find((d) => d.byteOffset !== undefined)?.byteOffset;
  return { differences: diffs, ignored: ctx.tally, firstBodyDivergence: first ?? (bodyDiffs.length ? 0 : null) };
}
