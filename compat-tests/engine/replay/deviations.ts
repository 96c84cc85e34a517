import { existsSync, readFileSync } from 'node:fs';
import * as v from 'valibot';
import { globToRegExp } from '../noise/rules.js';
import type { Difference } from '../report/model.js';

/**
 * `compat-tests/accepted-deviations.json`: legacy bugs the migrated side fixes on purpose.
 * Each entry names the exchange (`suite/name`, glob), the location (glob over diff paths) and why.
 * Matching differences are reported apart from failures.
 */
export const DeviationSchema = v.strictObject({
  exchange: v.string(),
  path: v.string(),
  why: v.string(),
});
export const DeviationsFileSchema = v.strictObject({ $comment: v.optional(v.string()), deviations: v.array(DeviationSchema) });
export type AcceptedDeviation = v.InferOutput<typeof DeviationSchema>;

export function readDeviations(file: string): AcceptedDeviation[] {
  if (!existsSync(file)) return [];
  const r = v.safeParse(DeviationsFileSchema, JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) throw new Error(`${file}: ${r.issues[0]!.message}`);
  return r.output.deviations;
}

export function splitDeviations(exchange: string, diffs: Difference[], accepted: AcceptedDeviation[]): { unexpected: Difference[]; deviations: Difference[] } {
  const rules = accepted.map((d) => ({ d, ex: globToRegExp(d.exchange), path: globToRegExp(d.path) }));
  const unexpected: Difference[] = [];
  const deviations: Difference[] = [];
  for (const diff of diffs) {
    const hit = rules.find((r) => r.ex.test(exchange) && r.path.test(diff.path));
    if (hit) deviations.push({ ...diff, acceptedBecause: hit.d.why });
    else unexpected.push(diff);
  }
  return { unexpected, deviations };
}
