import { existsSync, readFileSync } from 'node:fs';
import * as v from 'valibot';
import { globToRegExp } from '../noise/rules.js';
import type { Difference } from '../report/model.js';

/**
 * `compat-tests/accepted-deviations.json`: legacy bugs the migrated side fixes on purpose.
 * Each entry names the exchange (`suite/name`, glob), the location (glob over diff paths) and why.
 * Matching differences are reported apart from failures.
 */
/**
 * Conditions on the two values, for deviations that must not hide anything else at the same path.
 * `legacy-utf8-replacement`: the legacy's text is ours with one or two non-ASCII characters replaced by a run
 * of U+FFFD (a multi-byte character split across upstream reads and decoded piecewise), and nothing else.
 * `upstream-kept-alive`: the legacy's upstream request said `Connection: close`, ours `keep-alive`.
 */
const CONDITIONS = {
  'legacy-utf8-replacement': (diff: Difference) => isUtf8Replacement(diff.expected, diff.actual),
  /** The legacy forwarded a client's `close` upstream; we keep the pooled upstream socket alive. */
  'upstream-kept-alive': (diff: Difference) => diff.expected?.trim().toLowerCase() === 'close' && diff.actual?.trim().toLowerCase() === 'keep-alive',
} as const;

export const DeviationSchema = v.strictObject({
  exchange: v.string(),
  path: v.string(),
  when: v.optional(v.picklist(Object.keys(CONDITIONS) as Array<keyof typeof CONDITIONS>)),
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
    const hit = rules.find((r) => r.ex.test(exchange) && r.path.test(diff.path) && (r.d.when === undefined || CONDITIONS[r.d.when](diff)));
    if (hit) deviations.push({ ...diff, acceptedBecause: hit.d.why });
    else unexpected.push(diff);
  }
  return { unexpected, deviations };
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `legacy` equals `ours` except that some non-ASCII characters of ours came out as runs of U+FFFD. */
export function isUtf8Replacement(legacy: string | undefined, ours: string | undefined): boolean {
  if (legacy === undefined || ours === undefined || !legacy.includes('\uFFFD') || ours.includes('\uFFFD')) return false;
  const pattern = legacy.split(/\uFFFD+/u).map(escapeRegExp).join('[^\\x00-\\x7F]{1,2}');
  return new RegExp(`^${pattern}$`, 'u').test(ours);
}
