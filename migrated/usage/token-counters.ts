import { HincrbyPairs, WriteBatch, type PackTexts, type WriteOps } from '../storage/write-batch.js';

/** The four token counts of one request (already defaulted to 0) and their sum. */
export interface TokenCounts {
  input: number;
  output: number;
  cacheCreate: number;
  cacheRead: number;
  all: number;
}

/**
 * The legacy's run of six HINCRBYs that every per-bucket usage hash gets, in its order:
 * `<prefix>inputTokens, outputTokens, cacheCreateTokens, cacheReadTokens, allTokens, <requests>`.
 * The order is the hash's field order for a new key, which clients see through HGETALL-built JSON.
 *
 * On a WriteBatch the six go as one prepared run (the same commands): a request queues them on
 * ~12 hashes with the same counts, so their packed text is made once (see CounterRuns).
 */
export function incTokenCounters(p: WriteOps, runs: CounterRuns, key: string, t: TokenCounts, prefix = '', requestsField = 'requests'): void {
  if (p instanceof WriteBatch) {
    p.hincrbyAll(key, runs.pairs(t, prefix, requestsField));
    return;
  }
  p.hincrby(key, `${prefix}inputTokens`, t.input);
  p.hincrby(key, `${prefix}outputTokens`, t.output);
  p.hincrby(key, `${prefix}cacheCreateTokens`, t.cacheCreate);
  p.hincrby(key, `${prefix}cacheReadTokens`, t.cacheRead);
  p.hincrby(key, `${prefix}allTokens`, t.all);
  p.hincrby(key, `${prefix}${requestsField}`, 1);
}

/** Requests fields and prefixes per requests field kept by CounterRuns (bounded: prefixes carry model names). */
const REQUEST_FIELDS_LIMIT = 16;
const FIELD_NAMES_LIMIT = 512;
/** Prepared runs CounterRuns keeps: one request asks for the same one ~10 times, with a second prefix for the per-model fields of account_usage:hourly. */
const RECENT = 4;

interface Prepared {
  fields: readonly string[];
  input: number;
  output: number;
  cacheCreate: number;
  cacheRead: number;
  all: number;
  pairs: HincrbyPairs;
}

/**
 * The six counter runs a recorder queues, prepared once: the field names per (prefix, requests field) and
 * the last few prepared runs, matched by field names and counts (not by object identity: a TokenCounts is a
 * plain object its caller may reuse). Memo tables of pure functions, one per recorder (UsageMemo).
 */
export class CounterRuns {
  private readonly fieldNames = new Map<string, Map<string, readonly string[]>>();
  private readonly recent: Prepared[] = [];
  private nextSlot = 0;

  constructor(private readonly texts: PackTexts) {}

  private counterFields(prefix: string, requestsField: string): readonly string[] {
    let byPrefix = this.fieldNames.get(requestsField);
    if (byPrefix === undefined) {
      if (this.fieldNames.size >= REQUEST_FIELDS_LIMIT) this.fieldNames.clear();
      byPrefix = new Map();
      this.fieldNames.set(requestsField, byPrefix);
    }
    let names = byPrefix.get(prefix);
    if (names === undefined) {
      if (byPrefix.size >= FIELD_NAMES_LIMIT) byPrefix.clear();
      names = [`${prefix}inputTokens`, `${prefix}outputTokens`, `${prefix}cacheCreateTokens`, `${prefix}cacheReadTokens`, `${prefix}allTokens`, `${prefix}${requestsField}`];
      byPrefix.set(prefix, names);
    }
    return names;
  }

  pairs(t: TokenCounts, prefix: string, requestsField: string): HincrbyPairs {
    const fields = this.counterFields(prefix, requestsField);
    const recent = this.recent;
    for (let i = 0; i < recent.length; i++) {
      const r = recent[i]!;
      if (r.fields === fields && r.input === t.input && r.output === t.output && r.cacheCreate === t.cacheCreate && r.cacheRead === t.cacheRead && r.all === t.all) return r.pairs;
    }
    const pairs = new HincrbyPairs(fields, [t.input, t.output, t.cacheCreate, t.cacheRead, t.all, 1], this.texts);
    const entry: Prepared = { fields, input: t.input, output: t.output, cacheCreate: t.cacheCreate, cacheRead: t.cacheRead, all: t.all, pairs };
    if (recent.length < RECENT) recent.push(entry);
    else recent[this.nextSlot] = entry;
    this.nextSlot = (this.nextSlot + 1) % RECENT;
    return pairs;
  }
}
