import { decodeBytes } from '../format/bytes.js';
import type { Exchange } from '../format/exchange.js';
import { diffExchange, type Observed } from '../diff/exchange-diff.js';
import { compileNoise, type NoiseFile, type NoiseRule } from './rules.js';

/**
 * Learning noise the Diffy way: diff a primary recording against a secondary recording of the
 * same scenarios (both from the legacy). Whatever still differs after the shared variables is
 * proposed as noise, scoped to the exchanges where it was seen. Nothing else is: a field that
 * agreed between the two legacy runs stays signal.
 */
export function observedFrom(ex: Exchange): Observed {
  return {
    response: { status: ex.response.status, rawHeaders: ex.response.rawHeaders, body: decodeBytes(ex.response.body) },
    upstream: ex.upstream,
    redisAfter: ex.redis.after,
    pgAfter: ex.pg?.after ?? null,
    before: { request: ex.request, redis: ex.redis.before, pg: ex.pg?.before ?? null },
    startMs: ex.clock.startMs,
  };
}

export interface LearnResult {
  rules: NoiseRule[];
  compared: number;
  unmatched: string[];
}

export function learnNoise(primary: Exchange[], secondary: Exchange[], base: NoiseFile[]): LearnResult {
  const byName = new Map(secondary.map((e) => [e.name, e]));
  const seen = new Map<string, { exchanges: string[]; kinds: Set<string> }>();
  const unmatched: string[] = [];
  let compared = 0;
  for (const p of primary) {
    const s = byName.get(p.name);
    if (!s) {
      unmatched.push(p.name);
      continue;
    }
    compared++;
    // times are compared relative to each run's own start
    const noise = compileNoise(base, p.name);
    const d = diffExchange(p, observedFrom(s), noise, { slackMs: Math.max(2000, s.clock.elapsedMs) });
    for (const diff of d.differences) {
      const entry = seen.get(diff.path) ?? { exchanges: [], kinds: new Set<string>() };
      if (!entry.exchanges.includes(p.name)) entry.exchanges.push(p.name);
      entry.kinds.add(diff.kind);
      seen.set(diff.path, entry);
    }
  }
  const rules: NoiseRule[] = [...seen.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([path, e], i) => ({
      id: `learned-${String(i + 1).padStart(3, '0')}`,
      match: path,
      reason: `differs between the primary and the secondary legacy recording (${[...e.kinds].join('/')})`,
      source: 'learned' as const,
      exchanges: e.exchanges,
    }));
  return { rules, compared, unmatched };
}
