import type { WriteOps } from '../storage/write-batch.js';

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
 */
export function incTokenCounters(p: WriteOps, key: string, t: TokenCounts, prefix = '', requestsField = 'requests'): void {
  p.hincrby(key, `${prefix}inputTokens`, t.input);
  p.hincrby(key, `${prefix}outputTokens`, t.output);
  p.hincrby(key, `${prefix}cacheCreateTokens`, t.cacheCreate);
  p.hincrby(key, `${prefix}cacheReadTokens`, t.cacheRead);
  p.hincrby(key, `${prefix}allTokens`, t.all);
  p.hincrby(key, `${prefix}${requestsField}`, 1);
}
