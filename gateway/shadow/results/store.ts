import type { Counter, MetricsRegistry } from '../../observability/metrics.js';
import type { ShadowRecord } from './record.js';

/**
 * Shadow results: Prometheus counters per route, a per-route summary, and a bounded ring of
 * the last N differing (or failed) exchanges with their full bytes.
 */

export interface RouteSummary {
  routeId: string;
  compared: number;
  identical: number;
  differing: number;
  errors: number;
  dropped: number;
  sideEffects: { identical: number; differing: number; notMeasured: number };
  /** Why side effects were not measured, with counts. */
  notMeasuredReasons: Record<string, number>;
  upstreamNotAvailable: number;
  /** Differences matched by accepted deviations (these exchanges count as identical). */
  acceptedDeviations: number;
  lastAt: number | null;
}

export class ShadowResults {
  private readonly summaries = new Map<string, RouteSummary>();
  private readonly recent: ShadowRecord[] = [];
  private readonly c: Record<'compared' | 'identical' | 'differing' | 'errors' | 'dropped' | 'sideEffects', Counter>;

  constructor(
    registry: MetricsRegistry,
    private readonly keep = 50,
  ) {
    this.c = {
      compared: registry.counter('gateway_shadow_compared_total', 'Shadow exchanges compared, by route'),
      identical: registry.counter('gateway_shadow_identical_total', 'Shadow exchanges where both sides agreed, by route'),
      differing: registry.counter('gateway_shadow_differing_total', 'Shadow exchanges with a difference, by route and part'),
      errors: registry.counter('gateway_shadow_errors_total', 'Shadow comparisons that failed (candidate crash/timeout, engine error), by route'),
      dropped: registry.counter('gateway_shadow_comparison_dropped_total', 'Shadow copies dropped by the comparison engine (queue full), by route'),
      sideEffects: registry.counter('gateway_shadow_side_effects_total', 'Side-effect verdicts by route and status (identical, differing, not_measured)'),
    };
  }

  private summary(routeId: string): RouteSummary {
    let s = this.summaries.get(routeId);
    if (!s) {
      s = {
        routeId,
        compared: 0,
        identical: 0,
        differing: 0,
        errors: 0,
        dropped: 0,
        sideEffects: { identical: 0, differing: 0, notMeasured: 0 },
        notMeasuredReasons: {},
        upstreamNotAvailable: 0,
        acceptedDeviations: 0,
        lastAt: null,
      };
      this.summaries.set(routeId, s);
    }
    return s;
  }

  dropped(routeId: string, reason: string): void {
    this.summary(routeId).dropped++;
    this.c.dropped.inc({ route: routeId, reason });
  }

  add(r: ShadowRecord): void {
    const s = this.summary(r.routeId);
    s.lastAt = r.at;
    if (r.verdict === 'error') {
      s.errors++;
      this.c.errors.inc({ route: r.routeId });
    } else {
      s.compared++;
      this.c.compared.inc({ route: r.routeId });
      if (r.verdict === 'identical') {
        s.identical++;
        this.c.identical.inc({ route: r.routeId });
      } else {
        s.differing++;
        const area = r.differences[0]?.area ?? 'response';
        const part = area === 'redis' || area === 'pg' ? 'side_effects' : area;
        this.c.differing.inc({ route: r.routeId, part });
      }
    }
    const se = r.sideEffects.status === 'not-measured' ? 'notMeasured' : r.sideEffects.status;
    s.sideEffects[se]++;
    if (r.sideEffects.status === 'not-measured') s.notMeasuredReasons[r.sideEffects.reason] = (s.notMeasuredReasons[r.sideEffects.reason] ?? 0) + 1;
    this.c.sideEffects.inc({ route: r.routeId, status: se === 'notMeasured' ? 'not_measured' : se });
    s.upstreamNotAvailable += r.upstream.notAvailable;
    s.acceptedDeviations += r.deviations.length;
    if (r.verdict !== 'identical') {
      this.recent.push(r);
      if (this.recent.length > this.keep) this.recent.shift();
    } else {
      delete r.detail;
    }
  }

  routes(): RouteSummary[] {
    return [...this.summaries.values()].sort((a, b) => (a.routeId < b.routeId ? -1 : 1));
  }

  /** Most recent first. */
  differences(): ShadowRecord[] {
    return [...this.recent].reverse();
  }

  get(id: string): ShadowRecord | undefined {
    return this.recent.find((r) => r.id === id);
  }
}
