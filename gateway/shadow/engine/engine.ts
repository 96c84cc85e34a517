import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MigratedDeps } from '../../../migrated/runtime/deps.js';
import type { MetricsRegistry } from '../../observability/metrics.js';
import type { CapturedResponse, ShadowSink, TeeExchange } from '../../server/shadow-sink.js';
import type { ActivityTracker } from '../attribution/activity.js';
import { encodeBytes } from '../../../compat-tests/engine/format/bytes.js';
import { diffExchange, type Observed } from '../../../compat-tests/engine/diff/exchange-diff.js';
import type { CompiledNoise } from '../../../compat-tests/engine/noise/rules.js';
import type { Difference } from '../../../compat-tests/engine/report/model.js';
import type { PrimaryRedisTap, WindowResult } from '../redis-tap/tap.js';
import type { ShadowDetail, ShadowRecord } from '../results/record.js';
import { ShadowResults } from '../results/store.js';
import type { SandboxOverlay, SandboxRunResult } from '../sandbox/overlay.js';
import { readKeyStates, type KeyStates } from '../side-effects/key-state.js';
import { buildSnapshots, type Snapshots } from '../side-effects/snapshots.js';
import { detailToExchange } from '../save/to-exchange.js';
import { DEFAULT_DEVIATIONS_FILE, loadShadowNoiseByRoute, type ShadowNoiseByRoute } from './noise.js';
import { readDeviations, splitDeviations, type AcceptedDeviation } from '../../../compat-tests/engine/replay/deviations.js';
import { CandidateTime, rawHeaderValue } from './replay-time.js';
import type { CandidateUpstreamLog, UpstreamTap } from '../upstream-tap/tap.js';
import { SerialQueue } from './serial-queue.js';
import { InFlightList } from '../../lifecycle/in-flight-list.js';

/**
 * The shadow comparison engine: a ShadowSink (engineer A's tee hands it each sampled copy).
 *
 * Per exchange: open a window on the primary's Redis tap at once; wait for the primary's
 * response and `settleMs` more (the legacy records usage after responding); close the window
 * (pre-images + write log) and read production's values of the written keys. Then, one at a
 * time (candidate runs are serial so the sandbox and the upstream tap's candidate log belong to
 * one request): reset the sandbox with the pre-images, run the candidate with the sandbox Redis
 * and the upstream tap, wait `settleMs`, read the sandbox. Compare response, upstream calls and
 * side effects; count, log and keep the differing ones. Nothing here is on the client's path.
 */

export interface SandboxParts {
  overlay: SandboxOverlay;
  /** The candidate's Redis client, connected to the overlay port. */
  client: Redis;
  /** Direct control connection to the sandbox database (reads after a run). */
  control: Redis;
  /** A database of the sandbox server used for canonicalising values (flushed freely). */
  scratch: Redis;
}

export interface ShadowEngineOptions {
  log: Logger;
  registry: MetricsRegistry;
  sandbox?: SandboxParts;
  /** The tap the primary's Redis client goes through, and a direct production connection (reads only). */
  primaryTap?: PrimaryRedisTap;
  production?: Redis;
  upstreamTap?: UpstreamTap;
  activity?: ActivityTracker;
  settleMs?: number;
  candidateTimeoutMs?: number;
  /** Exchanges waiting for the candidate beyond this are dropped (counted). */
  maxQueue?: number;
  keepDifferences?: number;
  /**
   * A legacy candidate (route primary = migrated) is sent to LEGACY_URL. Only set this when that
   * legacy's Redis is a sandbox overlay port; otherwise such exchanges are dropped (counted).
   */
  legacyCandidateSandboxed?: boolean;
  /** TIMEZONE_OFFSET for the candidate's clock (date-bucketed keys). */
  timezoneOffsetHours?: number;
  /**
   * Noise rules: the offline suites' files (default: compat-tests/noise.default.json), compiled per
   * route so route-scoped rules only apply to their route. A plain CompiledNoise applies to every route.
   */
  noise?: CompiledNoise | ShadowNoiseByRoute;
  /** Accepted deviations (default: compat-tests/accepted-deviations.json). */
  deviations?: AcceptedDeviation[];
  now?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ShadowEngine implements ShadowSink {
  readonly results: ShadowResults;
  private readonly queue: SerialQueue;
  private readonly now: () => number;
  private readonly settleMs: number;
  private readonly candidateDeps: Partial<MigratedDeps>;
  private readonly time: CandidateTime;
  private readonly noiseFor: ShadowNoiseByRoute;
  private readonly deviations: AcceptedDeviation[];
  private closed = false;
  /** The exchanges being compared (a list, not a Set: see in-flight-list.ts). */
  private readonly pending = new InFlightList<Promise<void>>();

  constructor(private readonly o: ShadowEngineOptions) {
    this.results = new ShadowResults(o.registry, o.keepDifferences ?? 50);
    this.queue = new SerialQueue(o.maxQueue ?? 64);
    this.now = o.now ?? Date.now;
    this.settleMs = o.settleMs ?? 300;
    const noise = o.noise ?? loadShadowNoiseByRoute();
    this.noiseFor = typeof noise === 'function' ? noise : () => noise;
    this.deviations = o.deviations ?? readDeviations(DEFAULT_DEVIATIONS_FILE);
    // One stable object: the gateway builds the candidate module once per deps object.
    // pg: null — the candidate never dual-writes production PostgreSQL (not sandboxed, not compared).
    this.time = new CandidateTime(o.timezoneOffsetHours ?? 8, this.now);
    this.candidateDeps = {
      pg: null,
      webhooks: false, // the primary notifies; the overlay holds production's webhook config
      clock: this.time.clock,
      ids: this.time.ids,
      ...(o.sandbox ? { redis: o.sandbox.client } : {}),
      ...(o.upstreamTap ? { upstreamOverride: o.upstreamTap.candidateUrl } : {}),
    };
  }

  /** Waits until every exchange handed over so far has been compared (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  onExchange(x: TeeExchange): Promise<void> {
    if (this.closed) return Promise.resolve();
    const p = this.handle(x).finally(() => this.pending.delete(p));
    this.pending.add(p);
    return p;
  }

  private async handle(x: TeeExchange): Promise<void> {
    if (x.candidate === 'legacy' && !this.o.legacyCandidateSandboxed) {
      // The legacy candidate would be LEGACY_URL, i.e. a legacy writing production Redis.
      this.results.dropped(x.routeId, 'legacy_candidate_not_sandboxed');
      return;
    }
    const window = this.o.primaryTap?.openWindow();
    const primary = await x.primaryResponse;
    const primaryEnd = this.now();
    await sleep(this.settleMs);
    let win: WindowResult | undefined;
    let primaryAfter: KeyStates | undefined;
    let primaryReadAt = 0;
    try {
      win = await window?.close();
      if (win && this.o.production) {
        primaryAfter = await readKeyStates(this.o.production, new Set(win.writes.flatMap((w) => w.keys.map(latin1))));
        primaryReadAt = this.now();
      }
    } catch (err) {
      this.fail(x, primary, `reading the primary's side effects failed: ${(err as Error).message}`);
      return;
    }
    const exclusive = win && this.o.activity ? this.o.activity.activeDuring(win.openedAt, win.closedAt) <= 1 : false;
    const accepted = this.queue.push(async () => {
      try {
        await this.compare(x, primary, primaryEnd, win, primaryAfter, primaryReadAt, exclusive);
      } catch (err) {
        this.fail(x, primary, `shadow comparison failed: ${(err as Error).message}`);
      }
    });
    if (!accepted) this.results.dropped(x.routeId, 'candidate_queue_full');
    else await accepted;
  }

  private fail(x: TeeExchange, primary: CapturedResponse, message: string): void {
    this.o.log.warn({ shadow: x.id, routeId: x.routeId, err: message }, 'shadow comparison error');
    this.results.add(this.record(x, primary, undefined, 'error', message));
  }

  private record(
    x: TeeExchange,
    primary: CapturedResponse,
    candidate: CapturedResponse | undefined,
    verdict: ShadowRecord['verdict'],
    firstDivergence: string | null,
  ): ShadowRecord {
    return {
      id: x.id,
      routeId: x.routeId,
      module: x.module,
      primary: x.primary,
      candidate: x.candidate,
      at: x.request.receivedAt,
      verdict,
      firstDivergence,
      differences: [],
      deviations: [],
      ignored: { count: 0, bytes: 0 },
      upstream: { calls: [], primaryCalls: 0, notAvailable: 0 },
      sideEffects: { status: 'not-measured', reason: 'comparison did not complete' },
      timing: {
        primaryTtfbMs: primary.ttfbMs,
        primaryTotalMs: primary.durationMs,
        candidateTtfbMs: candidate?.ttfbMs ?? 0,
        candidateTotalMs: candidate?.durationMs ?? 0,
      },
      sandboxWarnings: [],
    };
  }

  private async compare(
    x: TeeExchange,
    primary: CapturedResponse,
    primaryEnd: number,
    win: WindowResult | undefined,
    primaryAfter: KeyStates | undefined,
    primaryReadAt: number,
    exclusive: boolean,
  ): Promise<void> {
    const sb = this.o.sandbox;
    // Pre-images hold each key as it was when the window opened, attributed or not.
    const run = sb ? await sb.overlay.beginRun(win?.preImages ?? new Map()) : undefined;
    const upLog: CandidateUpstreamLog | undefined = this.o.upstreamTap?.beginCandidateRun({ fromMs: x.request.receivedAt, toMs: primaryEnd });
    const candStart = this.now();
    this.time.begin(x.request.receivedAt, rawHeaderValue(primary.rawHeaders, 'x-request-id'));
    let candidate: CapturedResponse;
    try {
      candidate = await x.runCandidate({
        deps: this.candidateDeps,
        signal: AbortSignal.timeout(this.o.candidateTimeoutMs ?? 30_000),
      });
      await sleep(this.settleMs);
    } finally {
      this.time.end();
    }
    if (candidate.error && candidate.status === 0) {
      const rec = this.record(x, primary, candidate, 'error', `candidate failed: ${candidate.error}`);
      this.o.log.warn({ shadow: x.id, routeId: x.routeId, err: candidate.error }, 'shadow candidate failed');
      this.results.add(rec);
      return;
    }
    const sandboxRun: SandboxRunResult | undefined = run?.finish();
    const primaryWritten = new Set(win?.writes.flatMap((w) => w.keys.map(latin1)) ?? []);
    let snapshots: Snapshots | undefined;
    if (sb && sandboxRun) {
      const written = new Set([...sandboxRun.written, ...primaryWritten]);
      const candidateAfter = await readKeyStates(sb.control, written);
      const candReadAt = this.now();
      snapshots = await buildSnapshots(sb.scratch, {
        start: new Map([...sandboxRun.start, ...(win?.preImages ?? [])]),
        written,
        primaryAfter: primaryAfter ?? new Map(),
        primaryWritten,
        candidateAfter,
        primaryElapsedMs: primaryReadAt - x.request.receivedAt,
        candidateElapsedMs: candReadAt - candStart,
      });
    }
    const sideEffects = this.sideEffectsMeasurable(sandboxRun, win, primaryAfter, exclusive);
    // The primary's upstream calls during its window belong to this request only when no other
    // request was active; otherwise only the recordings the candidate's calls matched are its own,
    // and a primary call the candidate did not make cannot be detected (reported as such).
    const upstreamComplete = this.o.activity ? this.o.activity.activeDuring(x.request.receivedAt, primaryEnd) <= 1 : false;
    const matchedIds = new Set((upLog?.calls ?? []).map((c) => c.recordingId).filter(Boolean));
    const primaryUpstreamCalls = (upLog?.primaryCalls ?? []).filter((u) => upstreamComplete || matchedIds.has(u.id));

    const detail: ShadowDetail = {
      request: x.request,
      primaryResponse: primary,
      candidateResponse: candidate,
      primaryUpstream: primaryUpstreamCalls.map((u) => ({
        request: { ...u.request, rawHeaders: this.normaliseHost(u.request.rawHeaders) },
        status: u.status,
        rawHeaders: u.rawHeaders,
        chunks: u.chunks,
        ...(u.error ? { error: u.error } : {}),
      })),
      candidateUpstream: (upLog?.calls ?? []).map((c) => ({ request: { ...c.request, rawHeaders: this.normaliseHost(c.request.rawHeaders) }, outcome: c.outcome })),
      redis:
        snapshots && sandboxRun
          ? {
              before: snapshots.before,
              primaryAfter: snapshots.primaryAfter,
              candidateAfter: snapshots.candidateAfter,
              primaryWrites: win?.writes ?? [],
              candidateCommands: sandboxRun.commands,
            }
          : null,
      elapsedMs: (primaryReadAt || primaryEnd) - x.request.receivedAt,
    };
    const expected = detailToExchange(detail, { name: `shadow-${x.id}`, note: '', origin: x.routeId, timezoneOffsetHours: this.o.timezoneOffsetHours ?? 8 });
    // Connection / Keep-Alive describe the hop that carried the copy (the candidate is called over
    // a fresh connection), not the service: they are left out on both sides.
    expected.response.rawHeaders = withoutHopHeaders(expected.response.rawHeaders);
    const observed: Observed = {
      response: { status: candidate.status, rawHeaders: withoutHopHeaders(candidate.rawHeaders), body: candidate.body },
      upstream: detail.candidateUpstream.map((c) => ({
        method: c.request.method,
        url: c.request.url,
        host: null,
        via: 'shadow-upstream-tap',
        rawHeaders: c.request.rawHeaders,
        body: encodeBytes(c.request.body),
        response: { status: c.outcome === 'not-available' ? 502 : 0 },
      })),
      // Unmeasured side effects are not compared: the candidate is given the expected after-state.
      redisAfter: sideEffects === true && snapshots ? snapshots.candidateAfter : expected.redis.after,
      pgAfter: null,
    };
    const diff = diffExchange(expected, observed, this.noiseFor(x.routeId));
    const differences: Difference[] = [];
    for (const c of detail.candidateUpstream) {
      if (c.outcome === 'not-available') {
        differences.push({
          area: 'upstream',
          where: `upstream ${c.request.method} ${c.request.url}`,
          path: 'upstream.not-available',
          kind: 'missing',
          actual: 'not available in shadow (the primary made no such upstream call)',
        });
      }
    }
    if (primary.truncated || candidate.truncated) {
      differences.push({ area: 'response', where: 'response.body', path: 'response.body.truncated', kind: 'changed', detail: ['body longer than the capture limit: compared up to the limit only'] });
    }
    differences.push(...diff.differences);
    if (sideEffects === true && snapshots) differences.push(...snapshots.orderDifferences);

    // Legacy bugs fixed on purpose (compat-tests/accepted-deviations.json) apply to live traffic when
    // their exchange glob matches `shadow/<route id>` (e.g. "*").
    const split = splitDeviations(`shadow/${x.routeId}`, differences, this.deviations);
    differences.length = 0;
    differences.push(...split.unexpected);
    const verdict = differences.length ? 'differing' : 'identical';
    const rec = this.record(x, primary, candidate, verdict, differences[0] ? describeDifference(differences[0]) : null);
    rec.differences = differences.slice(0, 50);
    rec.deviations = split.deviations.slice(0, 50);
    rec.ignored = { count: diff.ignored.count, bytes: diff.ignored.bytes };
    rec.upstream = {
      calls: detail.candidateUpstream.map((c) => ({ outcome: c.outcome, method: c.request.method, url: c.request.url })),
      primaryCalls: detail.primaryUpstream.length,
      attribution: upstreamComplete ? 'complete' : 'matched-only',
      notAvailable: detail.candidateUpstream.filter((c) => c.outcome === 'not-available').length,
    };
    const keys = snapshots ? Object.keys(snapshots.primaryAfter).length : 0;
    rec.sideEffects =
      sideEffects === true
        ? { status: differences.some((d) => d.area === 'redis') ? 'differing' : 'identical', keys }
        : { status: 'not-measured', reason: sideEffects };
    rec.sandboxWarnings = sandboxRun?.warnings ?? [];
    rec.detail = detail;
    if (verdict === 'differing') {
      this.o.log.warn(
        { shadow: x.id, routeId: x.routeId, module: x.module, firstDivergence: rec.firstDivergence, differences: differences.length, sideEffects: rec.sideEffects.status },
        'shadow difference',
      );
    }
    this.results.add(rec);
  }

  /** true, or why the side effects cannot be compared for this exchange. */
  private sideEffectsMeasurable(run: SandboxRunResult | undefined, win: WindowResult | undefined, primaryAfter: KeyStates | undefined, exclusive: boolean): true | string {
    if (!run) return 'no sandbox configured';
    if (!win || !primaryAfter) return 'no shadow Redis tap configured';
    if (win.commandsSeen === 0 && win.clientsAtOpen === 0) return "no Redis command of the primary went through the shadow Redis tap during its window (point the primary's Redis client at the tap port)";
    if (!this.o.activity) return 'no activity tracker: writes cannot be attributed to one request';
    if (!exclusive) return 'other requests were active during the primary window: its writes cannot be attributed to this request';
    if (win.unresolved.length) return `writes with unresolved keys: ${win.unresolved[0]}`;
    return true;
  }

  /** Host is the transport's (tap ports differ per side): both sides get the real upstream host. */
  private normaliseHost(raw: string[]): string[] {
    const host = this.o.upstreamTap?.targetHost;
    if (!host) return raw;
    return raw.map((v, i) => (i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'host' ? host : v));
  }
}

export function describeDifference(d: Difference): string {
  const show = (s: string | undefined) => (s === undefined ? '(none)' : JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}…` : s));
  const at = d.byteOffset !== undefined ? ` at byte ${d.byteOffset}` : '';
  const extra = d.detail?.length ? ` (${d.detail.join('; ')})` : '';
  if (d.kind === 'missing') return `${d.where}: missing on the candidate${d.expected !== undefined ? `, primary has ${show(d.expected)}` : `: ${d.actual ?? ''}`}`;
  if (d.kind === 'extra') return `${d.where}: only on the candidate: ${show(d.actual)}`;
  return `${d.where}: ${d.kind}${at}: ${show(d.context?.expected ?? d.expected)} vs ${show(d.context?.actual ?? d.actual)}${extra}`;
}

const HOP_HEADERS = new Set(['connection', 'keep-alive']);

function withoutHopHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!HOP_HEADERS.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

function latin1(utf8Key: string): string {
  return Buffer.from(utf8Key, 'utf8').toString('latin1');
}
