import type { Redis } from 'ioredis';
import { diffRedisSnapshots, type DiffOptions, type KeyDiff } from '../../../test-support/redis-snapshot.js';
import type { RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import { canonicalSnapshot, hashFieldOrders, type KeyStates } from './key-state.js';

/**
 * Side-effect diff of one shadowed request: the primary's Redis writes (attributed through the
 * primary tap's window) against the candidate's sandbox writes. Only keys written by either
 * side are compared; each side's value is its state after the request (plus settle time), TTLs
 * taken relative to that side's own request start.
 */

export type SideEffectVerdict =
  | { status: 'identical'; keys: string[] }
  | { status: 'differing'; keys: string[]; diffs: KeyDiff[]; firstDivergence: string }
  | { status: 'not-measured'; reason: string };

export interface SideEffectInput {
  primaryWritten: Set<string>;
  candidateWritten: Set<string>;
  /** Production values after the primary's window, for at least `primaryWritten`. */
  primaryAfter: KeyStates;
  /** Starting values of keys the candidate touched (= the primary's "before" for them). */
  candidateStart: KeyStates;
  /** Sandbox values after the candidate, for at least `candidateWritten ∪ primaryWritten`. */
  candidateAfter: KeyStates;
  /** ms from each side's request start to the moment its values were read. */
  primaryElapsedMs: number;
  candidateElapsedMs: number;
  scratch: Redis;
  noise?: DiffOptions;
}

export interface SideEffectSnapshots {
  primary: RedisSnapshot;
  candidate: RedisSnapshot;
}

function describe(d: KeyDiff): string {
  switch (d.kind) {
    case 'removed':
      return `key ${d.key}: written by the primary, missing in the candidate's sandbox`;
    case 'added':
      return `key ${d.key}: written by the candidate only`;
    case 'type':
      return `key ${d.key}: type ${String(d.expected)} vs ${String(d.actual)}`;
    case 'ttl':
      return `key ${d.key}: TTL ${String(d.expected)} s vs ${String(d.actual)} s`;
    case 'value':
      return d.fields
        ? `key ${d.key}: hash field ${d.fields[0]} ${JSON.stringify((d.expected as Record<string, unknown>)[d.fields[0]!])} vs ${JSON.stringify((d.actual as Record<string, unknown>)[d.fields[0]!])}`
        : `key ${d.key}: value ${JSON.stringify(d.expected).slice(0, 120)} vs ${JSON.stringify(d.actual).slice(0, 120)}`;
  }
}

export async function compareSideEffects(x: SideEffectInput): Promise<{ verdict: SideEffectVerdict; snapshots: SideEffectSnapshots }> {
  const keys = [...new Set([...x.primaryWritten, ...x.candidateWritten])].sort();
  const primaryStates: KeyStates = new Map();
  const candidateStates: KeyStates = new Map();
  for (const k of keys) {
    // A key the primary did not write kept its starting value on the primary's side.
    const p = x.primaryAfter.get(k) ?? x.candidateStart.get(k);
    if (p) primaryStates.set(k, p);
    const c = x.candidateAfter.get(k);
    if (c) candidateStates.set(k, c);
  }
  const primary = await canonicalSnapshot(x.scratch, primaryStates, x.primaryElapsedMs);
  const candidate = await canonicalSnapshot(x.scratch, candidateStates, x.candidateElapsedMs);
  const diffs = diffRedisSnapshots(primary, candidate, { ttlTolerance: 2, ...x.noise });
  // The canonical form sorts hash fields; clients see Redis order (HGETALL), so compare it too.
  // Sequential: both use the same scratch database.
  const po = await hashFieldOrders(x.scratch, primaryStates);
  const co = await hashFieldOrders(x.scratch, candidateStates);
  for (const [k, order] of po) {
    const other = co.get(k);
    if (other && other.join('\u0000') !== order.join('\u0000') && !diffs.some((d) => d.key === k)) {
      diffs.push({ key: k, kind: 'value', fields: ['(field order)'], expected: { '(field order)': order }, actual: { '(field order)': other } });
    }
  }
  const snapshots = { primary, candidate };
  if (diffs.length === 0) return { verdict: { status: 'identical', keys }, snapshots };
  return { verdict: { status: 'differing', keys, diffs, firstDivergence: describe(diffs[0]!) }, snapshots };
}
