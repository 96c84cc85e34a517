/** What one replayed (or skipped) exchange produced; the reports are views of a list of these. */

export type Outcome = 'identical' | 'differs' | 'deviation' | 'not-migrated' | 'error';

export type Area = 'response' | 'upstream' | 'redis' | 'pg';

export interface Difference {
  area: Area;
  /** Human location: "response.body", "response.header x-request-id", "redis apikey:abc field name". */
  where: string;
  /** Machine location, used by noise rules and accepted deviations (e.g. "redis:apikey:abc#name"). */
  path: string;
  kind: 'changed' | 'missing' | 'extra' | 'order' | 'type' | 'ttl';
  expected?: string;
  actual?: string;
  /** First differing byte in the compared bytes (bodies, values). */
  byteOffset?: number;
  /** Bytes around the divergence, both sides. */
  context?: { expected: string; actual: string };
  /** Finer views of the same divergence: SSE event, JSON path. */
  detail?: string[];
  /** Set when the difference matches compat-tests/accepted-deviations.json. */
  acceptedBecause?: string;
}

export interface IgnoredTally {
  /** Values skipped or matched as variables, by rule id. */
  byRule: Record<string, { count: number; bytes: number }>;
  count: number;
  bytes: number;
}

export interface ExchangeResult {
  suite: string;
  exchange: string;
  method: string;
  path: string;
  routeId: string | null;
  module: string | null;
  outcome: Outcome;
  reason?: string;
  differences: Difference[];
  deviations: Difference[];
  ignored: IgnoredTally;
  durationMs: number;
  /** Side-by-side material for the HTML report (response bodies, truncated). */
  sideBySide?: { expected: string; actual: string; firstDivergence: number | null };
}

export function emptyTally(): IgnoredTally {
  return { byRule: {}, count: 0, bytes: 0 };
}

export function tallyIgnored(t: IgnoredTally, rule: string, bytes: number): void {
  const r = (t.byRule[rule] ??= { count: 0, bytes: 0 });
  r.count++;
  r.bytes += bytes;
  t.count++;
  t.bytes += bytes;
}

export function mergeTally(into: IgnoredTally, from: IgnoredTally): void {
  for (const [rule, r] of Object.entries(from.byRule)) {
    const t = (into.byRule[rule] ??= { count: 0, bytes: 0 });
    t.count += r.count;
    t.bytes += r.bytes;
  }
  into.count += from.count;
  into.bytes += from.bytes;
}

export interface RunReport {
  startedAt: string;
  durationMs: number;
  routing: string;
  results: ExchangeResult[];
  totals: Record<Outcome, number>;
  /** Unexpected differences or errors: the run fails. */
  failed: boolean;
}

export function summarize(results: ExchangeResult[]): { totals: Record<Outcome, number>; failed: boolean } {
  const totals: Record<Outcome, number> = { identical: 0, differs: 0, deviation: 0, 'not-migrated': 0, error: 0 };
  for (const r of results) totals[r.outcome]++;
  return { totals, failed: totals.differs + totals.error > 0 };
}

/** A result for one exchange with nothing found yet (the replayer and the runner fill in the rest). */
export function blankResult(
  suite: string,
  ex: { name: string; request: { method: string; path: string } },
  route: { routeId: string | null; module: string | null },
  outcome: Outcome,
  reason?: string,
): ExchangeResult {
  return {
    suite,
    exchange: ex.name,
    method: ex.request.method,
    path: ex.request.path,
    routeId: route.routeId,
    module: route.module,
    outcome,
    ...(reason !== undefined ? { reason } : {}),
    differences: [],
    deviations: [],
    ignored: emptyTally(),
    durationMs: 0,
  };
}
