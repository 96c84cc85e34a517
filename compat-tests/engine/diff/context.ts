import type { CompiledNoise } from '../noise/rules.js';
import type { Area, Difference, IgnoredTally } from '../report/model.js';
import { tallyIgnored } from '../report/model.js';
import type { Binder } from './variables.js';

/** Shared state while diffing one exchange: noise, id bindings, the ignored-bytes tally. */
export interface DiffContext {
  noise: CompiledNoise;
  binder: Binder;
  tally: IgnoredTally;
  /** How far recorded and replayed times may be apart (the exchange's elapsed time + slack). */
  toleranceMs: number;
  /** Observed start minus recorded start: times are compared relative to each run's own start (0 in replays). */
  timeShiftMs: number;
  /** Values derived from the observed response body, for rules with a `check`. */
  derived?: Record<'etag-of-body' | 'length-of-body', string>;
}

export const byteLen = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * Is `path` noise? Counts the bytes not compared: the recorded value, or the observed one when only
 * the observed side has it. A rule with a `check` only passes when `actual` is what the body implies.
 */
export function ignoreByRule(ctx: DiffContext, path: string, expected: string | undefined, actual?: string): boolean {
  const values = [expected, actual];
  // a decoded body (`response.body(decoded gzip)...`) is the same body: rules written for `response.body...` apply
  const rule = ctx.noise.ruleFor(path, values) ?? ctx.noise.ruleFor(ruleLocation(path), values);
  if (!rule) return false;
  if (rule.check) {
    // a derived value: accepted only when it is what the observed body implies
    if (actual === undefined || ctx.derived?.[rule.check] !== actual) return false;
  }
  tallyIgnored(ctx.tally, `rule:${rule.id}`, byteLen(expected ?? ''));
  return true;
}

/** The location noise rules are written against: a decoded body's path without its `(decoded <encoding>)` tag. */
export function ruleLocation(path: string): string {
  return path.replace(/^response\.body\(decoded [a-z-]+\)/, 'response.body');
}

export function areaOf(path: string): Area {
  if (path.startsWith('upstream')) return 'upstream';
  if (path.startsWith('redis')) return 'redis';
  if (path.startsWith('pg')) return 'pg';
  return 'response';
}

/** First differing byte of two texts (as UTF-8) and ±40 bytes of context on each side. */
export function firstDivergence(e: string, a: string): { offset: number; context: { expected: string; actual: string } } {
  const eb = Buffer.from(e, 'utf8');
  const ab = Buffer.from(a, 'utf8');
  let i = 0;
  while (i < eb.length && i < ab.length && eb[i] === ab[i]) i++;
  const from = Math.max(0, i - 40);
  return {
    offset: i,
    context: { expected: eb.subarray(from, i + 40).toString('utf8'), actual: ab.subarray(from, i + 40).toString('utf8') },
  };
}

export function difference(path: string, kind: Difference['kind'], expected?: string, actual?: string, extra: Partial<Difference> = {}): Difference {
  return {
    area: areaOf(path),
    where: path,
    path,
    kind,
    ...(expected !== undefined ? { expected } : {}),
    ...(actual !== undefined ? { actual } : {}),
    ...extra,
  };
}
