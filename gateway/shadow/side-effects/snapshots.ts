import type { Redis } from 'ioredis';
import type { RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import type { Difference } from '../../../compat-tests/engine/report/model.js';
import { canonicalSnapshot, hashFieldOrders, type KeyStates } from './key-state.js';

/**
 * Redis states of one shadowed request in the compat exchange form: `before` (every key either
 * side touched, as the candidate started from it), the primary's `after` and the candidate's
 * `after` (before + that side's result for every key written by either side). TTLs are taken
 * relative to each side's own request start, so the two afters can be compared.
 */

export interface SideStates {
  /** Starting values: the candidate's materialised keys and the primary's pre-images. */
  start: KeyStates;
  /** Keys written by either side. */
  written: Set<string>;
  /** Production after the primary window (for the primary-written keys). */
  primaryAfter: KeyStates;
  primaryWritten: Set<string>;
  /** Sandbox after the candidate (for every written key). */
  candidateAfter: KeyStates;
  primaryElapsedMs: number;
  candidateElapsedMs: number;
}

export interface Snapshots {
  before: RedisSnapshot;
  primaryAfter: RedisSnapshot;
  candidateAfter: RedisSnapshot;
  /** Hash field order differences (the canonical form sorts fields; clients see Redis order). */
  orderDifferences: Difference[];
}

function sideAfter(s: SideStates, side: 'primary' | 'candidate'): KeyStates {
  const out: KeyStates = new Map(s.start);
  for (const k of s.written) {
    const v = side === 'candidate' ? s.candidateAfter.get(k) : s.primaryWritten.has(k) ? s.primaryAfter.get(k) : s.start.get(k);
    if (v) out.set(k, v);
  }
  return out;
}

export async function buildSnapshots(scratch: Redis, s: SideStates): Promise<Snapshots> {
  // Scratch is shared: strictly one restore+read at a time.
  const before = await canonicalSnapshot(scratch, s.start);
  const pAfter = sideAfter(s, 'primary');
  const cAfter = sideAfter(s, 'candidate');
  const primaryAfter = await canonicalSnapshot(scratch, pAfter, s.primaryElapsedMs);
  const candidateAfter = await canonicalSnapshot(scratch, cAfter, s.candidateElapsedMs);
  const written = (m: KeyStates) => new Map([...m].filter(([k]) => s.written.has(k)));
  const po = await hashFieldOrders(scratch, written(pAfter));
  const co = await hashFieldOrders(scratch, written(cAfter));
  const orderDifferences: Difference[] = [];
  for (const [k, order] of po) {
    const other = co.get(k);
    if (other && other.join('\u0000') !== order.join('\u0000') && [...order].sort().join() === [...other].sort().join()) {
      orderDifferences.push({
        area: 'redis',
        where: `redis.${k} field order`,
        path: `redis.${k}.order`,
        kind: 'order',
        expected: order.join(','),
        actual: other.join(','),
      });
    }
  }
  return { before, primaryAfter, candidateAfter, orderDifferences };
}
