import { HincrbyPairs, WriteBatch, type WriteOps } from '../storage/write-batch.js';

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
 * ~12 hashes with the same counts, so their packed text is made once (see counterPairs).
 */
export function incTokenCounters(p: WriteOps, key: string, t: TokenCounts, prefix = '', requestsField = 'requests'): void {
  if (p instanceof WriteBatch) {
    p.hincrbyAll(key, counterPairs(t, prefix, requestsField));
    return;
  }
  p.hincrby(key, `${prefix}inputTokens`, t.input);
  p.hincrby(key, `${prefix}outputTokens`, t.output);
  p.hincrby(key, `${prefix}cacheCreateTokens`, t.cacheCreate);
  p.hincrby(key, `${prefix}cacheReadTokens`, t.cacheRead);
  p.hincrby(key, `${prefix}allTokens`, t.all);
  p.hincrby(key, `${prefix}${requestsField}`, 1);
}

/** The six field names per (prefix, requests field); bounded (prefixes carry model names). */
const fieldNames = new Map<string, Map<string, readonly string[]>>();
const FIELD_NAMES_LIMIT = 512;
function counterFields(prefix: string, requestsField: string): readonly string[] {
  let byPrefix = fieldNames.get(requestsField);
  if (byPrefix === undefined) {
    if (fieldNames.size >= 16) fieldNames.clear();
    byPrefix = new Map();
    fieldNames.set(requestsField, byPrefix);
  }
  let names = byPrefix.get(prefix);
  if (names === undefined) {
    if (byPrefix.size >= FIELD_NAMES_LIMIT) byPrefix.clear();
    names = [`${prefix}inputTokens`, `${prefix}outputTokens`, `${prefix}cacheCreateTokens`, `${prefix}cacheReadTokens`, `${prefix}allTokens`, `${prefix}${requestsField}`];
    byPrefix.set(prefix, names);
  }
  return names;
}

/**
 * The last few prepared runs, matched by field names and counts (not by object identity: a
 * TokenCounts is a plain object its caller may reuse). One request asks for the same one
 * ~10 times, with a second prefix for the per-model fields of account_usage:hourly.
 */
interface Prepared {
  fields: readonly string[];
  input: number;
  output: number;
  cacheCreate: number;
  cacheRead: number;
  all: number;
  pairs: HincrbyPairs;
}
const recent: Prepared[] = [];
const RECENT = 4;
let nextSlot = 0;

function counterPairs(t: TokenCounts, prefix: string, requestsField: string): HincrbyPairs {
  const fields = counterFields(prefix, requestsField);
  for (let i = 0; i < recent.length; i++) {
    const r = recent[i]!;
    if (r.fields === fields && r.input === t.input && r.output === t.output && r.cacheCreate === t.cacheCreate && r.cacheRead === t.cacheRead && r.all === t.all) return r.pairs;
  }
  const pairs = new HincrbyPairs(fields, [t.input, t.output, t.cacheCreate, t.cacheRead, t.all, 1]);
  const entry: Prepared = { fields, input: t.input, output: t.output, cacheCreate: t.cacheCreate, cacheRead: t.cacheRead, all: t.all, pairs };
  if (recent.length < RECENT) recent.push(entry);
  else recent[nextSlot] = entry;
  nextSlot = (nextSlot + 1) % RECENT;
  return pairs;
}
