import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DiffOptions } from '../../../test-support/redis-snapshot.js';
import type { MigratedDeps } from '../../../migrated/runtime/deps.js';
import type { MetricsRegistry } from '../../observability/metrics.js';
import type { CapturedResponse, ShadowSink, TeeExchange } from '../../server/shadow-sink.js';
import type { ActivityTracker } from '../attribution/activity.js';
import { compareResponses, DEFAULT_RESPONSE_NOISE, type ResponseNoise } from '../compare/response.js';
import { compareUpstreamRequest } from '../compare/upstream-request.js';
import type { PrimaryRedisTap, WindowResult } from '../redis-tap/tap.js';
import type { ShadowRecord, UpstreamCallVerdict } from '../results/record.js';
import { ShadowResults } from '../results/store.js';
import type { SandboxOverlay, SandboxRunResult } from '../sandbox/overlay.js';
import { compareSideEffects, type SideEffectSnapshots, type SideEffectVerdict } from '../side-effects/compare.js';
import { canonicalSnapshot, readKeyStates, type KeyStates } from '../side-effects/key-state.js';
import type { CandidateUpstreamLog, UpstreamTap } from '../upstream-tap/tap.js';
import { SerialQueue } from './serial-queue.js';

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
  responseNoise?: ResponseNoise;
  redisNoise?: DiffOptions;
  now?: () => number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ShadowEngine implements ShadowSink {
  readonly results: ShadowResults;
  private readonly queue: SerialQueue;
  private readonly now: () => number;
  private readonly settleMs: number;
  private readonly candidateDeps: Partial<MigratedDeps>;
  private closed = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly o: ShadowEngineOptions) {
    this.results = new ShadowResults(o.registry, o.keepDifferences ?? 50);
    this.queue = new SerialQueue(o.maxQueue ?? 64);
    this.now = o.now ?? Date.now;
    this.settleMs = o.settleMs ?? 300;
    // One stable object: the gateway builds the candidate module once per deps object.
    this.candidateDeps = {
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
      response: null,
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
    const candidate = await x.runCandidate({
      deps: this.candidateDeps,
      signal: AbortSignal.timeout(this.o.candidateTimeoutMs ?? 30_000),
    });
    if (candidate.error && candidate.status === 0) {
      const rec = this.record(x, primary, candidate, 'error', `candidate failed: ${candidate.error}`);
      this.o.log.warn({ shadow: x.id, routeId: x.routeId, err: candidate.error }, 'shadow candidate failed');
      this.results.add(rec);
      return;
    }
    await sleep(this.settleMs);
    const sandboxRun: SandboxRunResult | undefined = run?.finish();
    let candidateAfter: KeyStates | undefined;
    let candReadAt = 0;
    if (sb && sandboxRun) {
      const keys = new Set([...sandboxRun.written, ...(win?.writes.flatMap((w) => w.keys.map(latin1)) ?? [])]);
      candidateAfter = await readKeyStates(sb.control, keys);
      candReadAt = this.now();
    }

    const response = compareResponses(primary, candidate, this.o.responseNoise ?? DEFAULT_RESPONSE_NOISE);
    const calls: UpstreamCallVerdict[] = (upLog?.calls ?? []).map((c) => ({
      outcome: c.outcome,
      method: c.request.method,
      url: c.request.url,
      requestDivergence: c.primaryRequest ? compareUpstreamRequest(c.primaryRequest, c.request) : null,
    }));
    const notAvailable = calls.filter((c) => c.outcome === 'not-available').length;
    const primaryCalls = upLog?.primaryCalls.length ?? 0;

    let sideEffects: SideEffectVerdict;
    let snapshots: SideEffectSnapshots | undefined;
    if (!sb || !sandboxRun || !candidateAfter) sideEffects = { status: 'not-measured', reason: 'no sandbox configured' };
    else if (!win || !primaryAfter) sideEffects = { status: 'not-measured', reason: "the primary's Redis is not behind the shadow Redis tap" };
    else if (!this.o.activity) sideEffects = { status: 'not-measured', reason: 'no activity tracker: writes cannot be attributed to one request' };
    else if (!exclusive) sideEffects = { status: 'not-measured', reason: 'other requests were active during the primary window: its writes cannot be attributed to this request' };
    else if (win.unresolved.length) sideEffects = { status: 'not-measured', reason: `writes with unresolved keys: ${win.unresolved[0]}` };
    else {
      const r = await compareSideEffects({
        primaryWritten: new Set(win.writes.flatMap((w) => w.keys.map(latin1))),
        candidateWritten: sandboxRun.written,
        primaryAfter,
        candidateStart: sandboxRun.start,
        candidateAfter,
        primaryElapsedMs: primaryReadAt - x.request.receivedAt,
        candidateElapsedMs: candReadAt - candStart,
        scratch: sb.scratch,
        ...(this.o.redisNoise ? { noise: this.o.redisNoise } : {}),
      });
      sideEffects = r.verdict;
      snapshots = r.snapshots;
    }

    const upstreamDivergence = calls.find((c) => c.outcome === 'not-available' || c.requestDivergence);
    const firstDivergence = response
      ? `response: ${response.detail}`
      : upstreamDivergence
        ? upstreamDivergence.outcome === 'not-available'
          ? `upstream: ${upstreamDivergence.method} ${upstreamDivergence.url} not available in shadow (the primary made no such call)`
          : `upstream request: ${upstreamDivergence.requestDivergence}`
        : primaryCalls > calls.length
          ? `upstream: the primary made ${primaryCalls} upstream call(s), the candidate ${calls.length}`
          : sideEffects.status === 'differing'
            ? `redis: ${sideEffects.firstDivergence}`
            : null;
    const verdict = firstDivergence ? 'differing' : 'identical';
    const rec = this.record(x, primary, candidate, verdict, firstDivergence);
    rec.response = response;
    rec.upstream = { calls, primaryCalls, notAvailable };
    rec.sideEffects = sideEffects;
    rec.sandboxWarnings = sandboxRun?.warnings ?? [];
    if (verdict === 'differing') {
      rec.detail = {
        request: x.request,
        primaryResponse: primary,
        candidateResponse: candidate,
        primaryUpstream: (upLog?.primaryCalls ?? []).map((u) => ({
          request: u.request,
          status: u.status,
          rawHeaders: u.rawHeaders,
          chunks: u.chunks,
          ...(u.error ? { error: u.error } : {}),
        })),
        redis:
          sb && sandboxRun
            ? {
                before: await canonicalSnapshot(sb.scratch, new Map([...sandboxRun.start, ...(win?.preImages ?? [])])),
                primaryAfter: snapshots?.primary ?? {},
                candidateAfter: snapshots?.candidate ?? {},
                primaryWrites: win?.writes ?? [],
                candidateCommands: sandboxRun.commands,
              }
            : null,
        elapsedMs: (primaryReadAt || primaryEnd) - x.request.receivedAt,
      };
      this.o.log.warn(
        { shadow: x.id, routeId: x.routeId, module: x.module, firstDivergence, sideEffects: sideEffects.status },
        'shadow difference',
      );
    }
    this.results.add(rec);
  }
}

function latin1(utf8Key: string): string {
  return Buffer.from(utf8Key, 'utf8').toString('latin1');
}
