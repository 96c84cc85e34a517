import * as v from 'valibot';
import { MARKER_RE } from './scenarios.js';

/** The parts of GET /gateway/shadow (and /gateway/shadow/differences/:id) the drill reads. */

const RouteSummarySchema = v.object({
  routeId: v.string(),
  compared: v.number(),
  identical: v.number(),
  differing: v.number(),
  errors: v.number(),
  dropped: v.number(),
  sideEffects: v.object({ identical: v.number(), differing: v.number(), notMeasured: v.number() }),
  notMeasuredReasons: v.record(v.string(), v.number()),
  upstreamNotAvailable: v.number(),
  acceptedDeviations: v.number(),
});
export type RouteCounts = v.InferOutput<typeof RouteSummarySchema>;

const DifferenceSchema = v.object({ area: v.string(), where: v.string(), path: v.string(), kind: v.string(), expected: v.optional(v.string()), actual: v.optional(v.string()) });
export type DrillDifference = v.InferOutput<typeof DifferenceSchema>;

const RecordHeadSchema = v.object({
  id: v.string(),
  routeId: v.string(),
  at: v.number(),
  verdict: v.string(),
  firstDivergence: v.nullable(v.string()),
  differences: v.array(DifferenceSchema),
  sideEffects: v.object({ status: v.string(), reason: v.optional(v.string()) }),
  upstream: v.object({ primaryCalls: v.number(), notAvailable: v.number(), attribution: v.optional(v.string()) }),
});
export type RecordHead = v.InferOutput<typeof RecordHeadSchema>;

export const ShadowSummarySchema = v.object({
  routes: v.array(RouteSummarySchema),
  differences: v.array(RecordHeadSchema),
  upstreamTap: v.optional(v.nullable(v.object({ forwarded: v.number(), tunnels: v.number(), recordings: v.number() }))),
});
export type ShadowSummary = v.InferOutput<typeof ShadowSummarySchema>;

/** /gateway/shadow/differences/:id — only the client request is read (to find the scenario marker). */
export const DifferenceDetailSchema = v.object({
  id: v.string(),
  detail: v.optional(v.object({ request: v.object({ url: v.string(), body: v.unknown() }) })),
});

const COUNTERS = ['compared', 'identical', 'differing', 'errors', 'dropped', 'upstreamNotAvailable', 'acceptedDeviations'] as const;

/**
 * Per-route counts of `after` minus `before` (the gateway's counters are cumulative), for the given routes;
 * a route the gateway has no summary for (no traffic yet) is left out.
 */
export function routeDeltas(before: readonly RouteCounts[], after: readonly RouteCounts[], routes: readonly string[]): RouteCounts[] {
  return routes.flatMap((routeId) => {
    const a = after.find((r) => r.routeId === routeId);
    if (!a) return [];
    const b = before.find((r) => r.routeId === routeId);
    const d: RouteCounts = { ...a, sideEffects: { ...a.sideEffects }, notMeasuredReasons: {} };
    for (const k of COUNTERS) d[k] = a[k] - (b?.[k] ?? 0);
    for (const k of ['identical', 'differing', 'notMeasured'] as const) d.sideEffects[k] = a.sideEffects[k] - (b?.sideEffects[k] ?? 0);
    for (const [reason, n] of Object.entries(a.notMeasuredReasons)) {
      const delta = n - (b?.notMeasuredReasons[reason] ?? 0);
      if (delta > 0) d.notMeasuredReasons[reason] = delta;
    }
    return [d];
  });
}

/** Total shadow outcomes (compared + errors + dropped) of the given routes: the drill waits for it to settle. */
export function outcomes(routes: readonly RouteCounts[], ids: readonly string[]): number {
  return routes.filter((r) => ids.includes(r.routeId)).reduce((n, r) => n + r.compared + r.errors + r.dropped, 0);
}

/** The scenario a request body belongs to (its `drill:<scenario>:r<round>` marker), or null. */
export function scenarioOf(body: string): string | null {
  return MARKER_RE.exec(body)?.[1] ?? null;
}

/** Short, stable label of one difference: area + machine path with ids/indices folded, for grouping. */
export function differenceLabel(d: DrillDifference): string {
  return `${d.kind} ${d.path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>').replace(/\d{6,}/g, '<n>')}`;
}

export interface DifferenceGroup {
  scenario: string;
  route: string;
  count: number;
  labels: string[];
  example: { id: string; firstDivergence: string | null; differences: DrillDifference[] };
}

/** Groups differing records by scenario and by their set of difference labels. */
export function groupDifferences(records: ReadonlyArray<{ scenario: string; head: RecordHead }>): DifferenceGroup[] {
  const groups = new Map<string, DifferenceGroup>();
  for (const { scenario, head } of records) {
    const labels = [...new Set(head.differences.map(differenceLabel))].sort();
    const k = `${scenario}|${head.routeId}|${labels.join(';')}`;
    const g = groups.get(k);
    if (g) g.count++;
    else groups.set(k, { scenario, route: head.routeId, count: 1, labels, example: { id: head.id, firstDivergence: head.firstDivergence, differences: head.differences.slice(0, 8) } });
  }
  return [...groups.values()].sort((a, b) => a.scenario.localeCompare(b.scenario));
}
