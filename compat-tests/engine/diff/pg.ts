import type { PgSnapshot } from '../format/exchange.js';
import type { Difference } from '../report/model.js';
import { difference, ignoreByRule, type DiffContext } from './context.js';
import { pairNames } from './redis.js';
import { compareText } from './text.js';

/** PostgreSQL after-states: tables, rows by primary key (ids paired through bindings), column values. Location `pg.<table>.<pk>.<column>`. */
const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function comparePg(ctx: DiffContext, expected: PgSnapshot, actual: PgSnapshot): Difference[] {
  const diffs: Difference[] = [];
  for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const e = expected[table];
    const a = actual[table];
    const base = `pg.${table}`;
    if (!e || !a) {
      if (!ignoreByRule(ctx, base, '')) diffs.push(difference(base, e ? 'missing' : 'extra', e ? `table ${table}` : undefined, a ? `table ${table}` : undefined));
      continue;
    }
    const { pairs, missing, extra } = pairNames(ctx, Object.keys(e.rows), Object.keys(a.rows));
    for (const k of missing) if (!ignoreByRule(ctx, `${base}.${k}`, text(e.rows[k]))) diffs.push(difference(`${base}.${k}`, 'missing', text(e.rows[k])));
    for (const k of extra) if (!ignoreByRule(ctx, `${base}.${k}`, text(a.rows[k]))) diffs.push(difference(`${base}.${k}`, 'extra', undefined, text(a.rows[k])));
    for (const [ek, ak] of pairs) {
      const er = e.rows[ek]!;
      const ar = a.rows[ak]!;
      for (const col of new Set([...Object.keys(er), ...Object.keys(ar)])) {
        const path = `${base}.${ek}.${col}`;
        if (!(col in ar) || !(col in er)) {
          if (!ignoreByRule(ctx, path, text(er[col]))) diffs.push(difference(path, col in er ? 'missing' : 'extra', text(er[col]), text(ar[col])));
          continue;
        }
        diffs.push(...compareText(ctx, path, text(er[col]), text(ar[col])));
      }
    }
  }
  return diffs;
}
