import type { Difference } from '../report/model.js';
import { difference, ignoreByRule, type DiffContext } from './context.js';
import { compareText } from './text.js';

/**
 * Raw header lists ([name, value, ...]): names, their case and order, and every value.
 * Location of a value: `<base>.<lower-case name>` (`[k]` for the k-th repeat of a name).
 */
function entries(raw: readonly string[]): Array<{ key: string; name: string; value: string }> {
  const seen = new Map<string, number>();
  const out: Array<{ key: string; name: string; value: string }> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    const n = seen.get(lower) ?? 0;
    seen.set(lower, n + 1);
    out.push({ key: n ? `${lower}[${n}]` : lower, name: raw[i]!, value: raw[i + 1]! });
  }
  return out;
}

export function compareHeaders(ctx: DiffContext, base: string, expected: readonly string[], actual: readonly string[]): Difference[] {
  const e = entries(expected);
  const a = entries(actual);
  const am = new Map(a.map((x) => [x.key, x]));
  const em = new Map(e.map((x) => [x.key, x]));
  const diffs: Difference[] = [];
  for (const x of e) {
    const y = am.get(x.key);
    const path = `${base}.${x.key}`;
    if (!y) {
      if (!ignoreByRule(ctx, path, x.value)) diffs.push(difference(path, 'missing', `${x.name}: ${x.value}`, undefined));
      continue;
    }
    if (x.name !== y.name) diffs.push(difference(`${path}#name`, 'changed', x.name, y.name, { detail: ['header name case differs'] }));
    diffs.push(...compareText(ctx, path, x.value, y.value));
  }
  for (const y of a) {
    const path = `${base}.${y.key}`;
    if (!em.has(y.key) && !ignoreByRule(ctx, path, y.value)) diffs.push(difference(path, 'extra', undefined, `${y.name}: ${y.value}`));
  }
  const eo = e.map((x) => x.key).filter((k) => am.has(k));
  const ao = a.map((x) => x.key).filter((k) => em.has(k));
  if (eo.join('\n') !== ao.join('\n') && !ignoreByRule(ctx, `${base}#order`, '')) {
    const at = eo.findIndex((k, i) => ao[i] !== k);
    diffs.push(difference(`${base}#order`, 'order', eo.join(', '), ao.join(', '), { detail: [`first out of place: #${at} ${eo[at]} (replayed: ${ao[at]})`] }));
  }
  return diffs;
}
