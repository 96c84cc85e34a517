import type { RedisEntry, RedisSnapshot } from '../format/exchange.js';
import type { Difference } from '../report/model.js';
import { difference, ignoreByRule, type DiffContext } from './context.js';
import { compareText } from './text.js';
import { matchWithVariables, tokenize } from './variables.js';

/**
 * Redis after-states key by key: presence, type, TTL (exact, or within the elapsed seconds),
 * and values: string bytes, hash fields, list items, set members, zset members and scores,
 * stream entries. Keys named with a new id are paired through the exchange's id bindings.
 * Locations: `redis.<key>`, `.ttl`, `.type`, `.value`, `.field.<f>`, `.item[i]`, `.member[i]`, `.score[i]`, `.entry[i].id|.field.<f>`.
 */
export function pairNames(ctx: DiffContext, expected: string[], actual: string[]): { pairs: Array<[string, string]>; missing: string[]; extra: string[] } {
  const free = new Set(actual);
  const pairs: Array<[string, string]> = [];
  const rest: string[] = [];
  for (const k of expected) {
    if (free.has(k)) {
      pairs.push([k, k]);
      free.delete(k);
    } else rest.push(k);
  }
  const missing: string[] = [];
  for (const k of rest) {
    // an id already bound elsewhere decides first; otherwise the first name of the same shape
    const viaBinding = mapTokens(ctx, k);
    const mapped =
      (viaBinding !== k && free.has(viaBinding) ? viaBinding : undefined) ??
      [...free].find((c) => matchWithVariables(k, c, ctx.noise, ctx.binder, ctx.toleranceMs, ctx.timeShiftMs).equivalent);
    if (mapped) {
      pairs.push([k, mapped]);
      free.delete(mapped);
    } else missing.push(k);
  }
  return { pairs, missing, extra: [...free] };
}

/** A recorded name with every already-bound id replaced by what it became. */
export function mapTokens(ctx: DiffContext, text: string): string {
  const t = tokenize(text, ctx.noise);
  let out = t.literals[0] ?? '';
  t.tokens.forEach((tok, i) => {
    out += (tok.cls.kind === 'bind' ? ctx.binder.mapped(tok.text) : undefined) ?? tok.text;
    out += t.literals[i + 1] ?? '';
  });
  return out;
}

/** Keys (or rows) an exchange touched: added, or value/type changed (TTL countdown alone is not a change). */
export function touched(before: RedisSnapshot, after: RedisSnapshot): RedisSnapshot {
  const out: RedisSnapshot = {};
  for (const [k, e] of Object.entries(after)) {
    const b = before[k];
    if (!b || b.type !== e.type || JSON.stringify(b.value) !== JSON.stringify(e.value) || (b.ttl < 0) !== (e.ttl < 0)) out[k] = e;
  }
  return out;
}

/** Set members / zset members in a run-independent order: recorded ids mapped through the bindings, then sorted. */
function sortedMembers<T>(ctx: DiffContext, items: T[], name: (x: T) => string, mapExpected: boolean): T[] {
  const key = (x: T) => (mapExpected ? mapTokens(ctx, name(x)) : name(x));
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const show = (e: RedisEntry): string => JSON.stringify(e.value);

/**
 * `before` (the shared pre-state of a replay) lets TTLs be judged by what the request did to them:
 * a TTL the recording refreshed (after > before) must be refreshed in the replay too, and one it
 * left counting down must not be, however close the numbers are.
 */
export function compareRedis(
  ctx: DiffContext,
  expected: RedisSnapshot,
  actual: RedisSnapshot,
  ttlToleranceSec: number,
  before?: RedisSnapshot,
): Difference[] {
  const diffs: Difference[] = [];
  const { pairs, missing, extra } = pairNames(ctx, Object.keys(expected), Object.keys(actual));
  for (const k of missing) if (!ignoreByRule(ctx, `redis.${k}`, show(expected[k]!))) diffs.push(difference(`redis.${k}`, 'missing', `${expected[k]!.type} ${show(expected[k]!)}`));
  for (const k of extra) if (!ignoreByRule(ctx, `redis.${k}`, show(actual[k]!))) diffs.push(difference(`redis.${k}`, 'extra', undefined, `${actual[k]!.type} ${show(actual[k]!)}`));
  for (const [ek, ak] of pairs) diffs.push(...compareEntry(ctx, `redis.${ek}`, expected[ek]!, actual[ak]!, ttlToleranceSec, before?.[ek]?.ttl));
  return diffs;
}

function compareTtl(ctx: DiffContext, base: string, e: number, a: number, tol: number, b?: number): Difference[] {
  if (e === a) return [];
  if (ignoreByRule(ctx, `${base}.ttl`, String(e))) return [];
  // A TTL only grows when it is set again. TTLs are whole seconds, so judge only clear cases: one side
  // grew by more than the tolerance while the other did not grow at all.
  if (b !== undefined && b > 0 && e > 0 && a > 0 && ((e - b > tol && a <= b) || (a - b > tol && e <= b))) {
    const what = e - b > tol ? 'the recording refreshed the TTL, the replay did not' : 'the replay refreshed a TTL the recording left counting down';
    return [difference(`${base}.ttl`, 'ttl', String(e), String(a), { detail: [`${what} (before: ${b} s)`] })];
  }
  if (e > 0 && a > 0 && Math.abs(e - a) <= tol) return [];
  return [difference(`${base}.ttl`, 'ttl', String(e), String(a), { detail: [`TTL allowed to move by ${tol} s`] })];
}

function list(ctx: DiffContext, base: string, label: string, e: string[], a: string[]): Difference[] {
  const diffs: Difference[] = [];
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    const path = `${base}.${label}[${i}]`;
    if (i >= a.length) {
      if (!ignoreByRule(ctx, path, e[i])) diffs.push(difference(path, 'missing', e[i]));
    } else if (i >= e.length) {
      if (!ignoreByRule(ctx, path, a[i])) diffs.push(difference(path, 'extra', undefined, a[i]));
    } else diffs.push(...compareText(ctx, path, e[i]!, a[i]!));
  }
  return diffs;
}

function compareEntry(ctx: DiffContext, base: string, e: RedisEntry, a: RedisEntry, tol: number, beforeTtl?: number): Difference[] {
  if (ctx.noise.ruleFor(base)) {
    ignoreByRule(ctx, base, show(e));
    return [];
  }
  if (e.type !== a.type) return [difference(`${base}.type`, 'type', e.type, a.type)];
  const diffs = compareTtl(ctx, base, e.ttl, a.ttl, tol, beforeTtl);
  switch (e.type) {
    case 'string':
      diffs.push(...compareText(ctx, `${base}.value`, String(e.value), String(a.value)));
      break;
    case 'hash': {
      const eh = toHash(e.value);
      const ah = toHash(a.value);
      for (const f of new Set([...Object.keys(eh), ...Object.keys(ah)])) {
        const path = `${base}.field.${f}`;
        if (!(f in ah)) {
          if (!ignoreByRule(ctx, path, eh[f])) diffs.push(difference(path, 'missing', eh[f]));
        } else if (!(f in eh)) {
          if (!ignoreByRule(ctx, path, ah[f])) diffs.push(difference(path, 'extra', undefined, ah[f]));
        } else diffs.push(...compareText(ctx, path, eh[f]!, ah[f]!));
      }
      break;
    }
    case 'list':
      diffs.push(...list(ctx, base, 'item', (e.value as string[]).map(String), (a.value as string[]).map(String)));
      break;
    case 'set':
      diffs.push(
        ...list(
          ctx,
          base,
          'member',
          sortedMembers(ctx, (e.value as string[]).map(String), (x) => x, true),
          sortedMembers(ctx, (a.value as string[]).map(String), (x) => x, false),
        ),
      );
      break;
    case 'zset': {
      // order by score, then member with recorded ids mapped (Redis orders equal scores by member bytes)
      const order = (items: Array<[string, number | string]>, mapExpected: boolean) =>
        sortedMembers(ctx, items, (x) => x[0], mapExpected).sort((x, y) => Number(x[1]) - Number(y[1]));
      const ez = order(e.value as Array<[string, number | string]>, true);
      const az = order(a.value as Array<[string, number | string]>, false);
      diffs.push(...list(ctx, base, 'member', ez.map((x) => x[0]), az.map((x) => x[0])));
      diffs.push(...list(ctx, base, 'score', ez.map((x) => String(Number(x[1]))), az.map((x) => String(Number(x[1])))));
      break;
    }
    case 'stream': {
      const es = e.value as Array<[string, string[]]>;
      const as = a.value as Array<[string, string[]]>;
      for (let i = 0; i < Math.max(es.length, as.length); i++) {
        const path = `${base}.entry[${i}]`;
        const x = es[i];
        const y = as[i];
        if (!x || !y) {
          if (!ignoreByRule(ctx, path, x ? JSON.stringify(x) : '')) diffs.push(difference(path, x ? 'missing' : 'extra', x && JSON.stringify(x), y && JSON.stringify(y)));
          continue;
        }
        diffs.push(...compareText(ctx, `${path}.id`, x[0], y[0]));
        const xf = pairsOf(x[1]);
        const yf = pairsOf(y[1]);
        const names = [...new Set([...xf.map((p) => p[0]), ...yf.map((p) => p[0])])];
        for (const n of names) {
          const xv = xf.find((p) => p[0] === n)?.[1];
          const yv = yf.find((p) => p[0] === n)?.[1];
          const fp = `${path}.field.${n}`;
          if (xv === undefined || yv === undefined) {
            if (!ignoreByRule(ctx, fp, xv)) diffs.push(difference(fp, xv === undefined ? 'extra' : 'missing', xv, yv));
          } else diffs.push(...compareText(ctx, fp, xv, yv));
        }
        if (xf.map((p) => p[0]).join() !== yf.map((p) => p[0]).join() && !ignoreByRule(ctx, `${path}#order`, ''))
          diffs.push(difference(`${path}#order`, 'order', xf.map((p) => p[0]).join(','), yf.map((p) => p[0]).join(',')));
      }
      break;
    }
  }
  return diffs;
}

function toHash(v: unknown): Record<string, string> {
  if (Array.isArray(v)) return Object.fromEntries(v as Array<[string, string]>);
  return (v ?? {}) as Record<string, string>;
}
function pairsOf(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
