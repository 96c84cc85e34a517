import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import type { ApiKeyHash } from '../storage/api-keys.js';
import { keyCostKeys, keyCostsOf, type KeyCosts } from './key-costs.js';

/**
 * One round trip for what validation (and the route after it) reads first, for a key seen before:
 * `HGET apikey:hash_map <hash>`, `HGETALL apikey:{id}`, the cost counters, and the reads a route
 * declared for this key (e.g. its bound account), all in one pipeline. The key id (and the
 * route's reads) come from a hint left by the key's previous request; the reply is used only
 * when the hash map still names that id and the hash exists — exactly findByHash's answer —
 * otherwise the caller does the ordinary lookup. The route's reads are handed on only when the
 * key record read now still asks for the same reads.
 */

/** A read a route wants done together with the key lookup. */
export interface PlannedRead {
  cmd: 'hgetall' | 'exists' | 'get';
  key: string;
}

/** Route reads for a key record (same record → same plan). */
export type ReadAheadPlanner = (record: ApiKeyHash) => PlannedRead[];

/** Replies of planned reads, by `cmd key`. */
export class ReadAhead {
  constructor(private readonly replies: ReadonlyMap<string, unknown>) {}
  static readonly empty = new ReadAhead(new Map());
  has(cmd: PlannedRead['cmd'], key: string): boolean {
    return this.replies.has(`${cmd} ${key}`);
  }
  get<T>(cmd: PlannedRead['cmd'], key: string): T | undefined {
    return this.replies.get(`${cmd} ${key}`) as T | undefined;
  }
}

interface Hint {
  id: string;
  plan: PlannedRead[];
}

const samePlan = (a: PlannedRead[], b: PlannedRead[]) => a.length === b.length && a.every((r, i) => r.cmd === b[i]!.cmd && r.key === b[i]!.key);

export interface ReadAheadResult {
  record: ApiKeyHash;
  costs: KeyCosts;
  readAhead: ReadAhead;
}

/** Hints per hashed key (bounded; oldest dropped first). One per authenticator. */
export class KeyReadAhead {
  private readonly hints = new Map<string, Hint>();

  constructor(
    private readonly planner: ReadAheadPlanner | undefined,
    private readonly maxHints = 10_000,
  ) {}

  /** The pipelined lookup, or null when there is no usable hint (the caller does the ordinary lookup). */
  async lookup(redis: Redis, clock: Clock, hashed: string): Promise<ReadAheadResult | null> {
    const hint = this.hints.get(hashed);
    if (!hint) return null;
    const p = redis.pipeline().hget(keys.apiKeyHashMap(), hashed).hgetall(keys.apiKey(hint.id)).mget(...keyCostKeys(clock, hint.id));
    for (const r of hint.plan) p[r.cmd](r.key);
    const res = (await p.exec()) ?? [];
    const [mapErr, mapped] = res[0] ?? [null, null];
    const [dataErr, data] = res[1] ?? [null, null];
    const [costErr, costValues] = res[2] ?? [null, null];
    if (mapErr || dataErr || costErr || mapped !== hint.id || !data || Object.keys(data as object).length === 0) {
      this.hints.delete(hashed);
      return null;
    }
    const record = { id: hint.id, ...(data as Record<string, string>) } as ApiKeyHash;
    const replies = new Map<string, unknown>();
    if (this.planner && samePlan(this.planner(record), hint.plan)) {
      hint.plan.forEach((r, i) => {
        const [err, value] = res[3 + i] ?? [new Error('missing'), null];
        if (!err) replies.set(`${r.cmd} ${r.key}`, value);
      });
    }
    return { record, costs: keyCostsOf(costValues as string[]), readAhead: new ReadAhead(replies) };
  }

  /** Remember a validated key for its next request. */
  remember(hashed: string, record: ApiKeyHash): void {
    if (!this.hints.has(hashed) && this.hints.size >= this.maxHints) {
      const oldest = this.hints.keys().next().value;
      if (oldest !== undefined) this.hints.delete(oldest);
    }
    this.hints.set(hashed, { id: record.id, plan: this.planner ? this.planner(record) : [] });
  }

  forget(hashed: string): void {
    this.hints.delete(hashed);
  }
}
