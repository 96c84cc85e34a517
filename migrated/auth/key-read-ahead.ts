import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import type { ApiKeyHash } from '../storage/api-keys.js';
import { CostKeyDates, keyCostKeys, keyCostsOf, type KeyCosts } from './key-costs.js';
import { LuaScript } from '../locks/lua-script.js';
import { flatHash } from '../storage/flat-hash.js';

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

/**
 * The script's reply, one JSON text (Redis' cjson): [HGET hash_map, HGETALL key (flat), MGET costs, per planned
 * read [1, reply] or [0] (error)]. cjson writes a nil as `false` and an empty table as `{}`.
 */
type ReadReply = [string | false, string[] | Record<string, never>, Array<string | false>, Array<[1, unknown] | [0]>];

/**
 * The reads of one lookup in one EVALSHA_RO (read-only: Redis refuses writes from it, the shadow tap sees a
 * read). A script rather than a pipeline of the same commands: the same reads in one round trip, and no
 * pipeline object per request. The replies come back as one JSON text (cjson.encode in Redis, one
 * JSON.parse here) rather than as ~90 nested RESP strings: the client decodes one string instead of one per
 * field. Measured 2026-11-26 with the trace's 38-field key and 28-field account, 10,000 lookups in a loop:
 * client CPU per lookup 126-144 -> 108-120 us, Redis time per call 44-47 -> 32-44 us; one at a time with 15 ms
 * pauses (the streamed-TTFB situation) the lookup's median wall time went from 618-633 to 564-619 us and the
 * gateway's reply-to-record step from ~0.13 to ~0.07 ms. cjson keeps the fields' order and bytes (it escapes only
 * control characters, `"`, `\` and `/`; JSON.parse restores them), so the records are the ones HGETALL
 * gives. Every key is declared in KEYS (the shadow overlay copies what a script touches). A failing planned
 * read (WRONGTYPE ...) is reported as [0] and left to the route; a failing key read fails the script, and
 * the caller then does the ordinary lookup, which meets the same error.
 * KEYS: hash map, key hash, the n cost keys, the planned reads' keys; ARGV: hashed key, n, planned commands.
 */
const READ = new LuaScript(
  'keyReadAhead',
  `local n = tonumber(ARGV[2])
local costKeys = {}
for i = 1, n do costKeys[i] = KEYS[2 + i] end
local planned = {}
for j = 3, #ARGV do
  local cmd, key = ARGV[j], KEYS[n + j]
  local r = redis.pcall(cmd, key)
  if type(r) == 'table' and r.err then planned[#planned + 1] = {0} else planned[#planned + 1] = {1, r} end
end
return cjson.encode({redis.call('HGET', KEYS[1], ARGV[1]), redis.call('HGETALL', KEYS[2]), redis.call('MGET', unpack(costKeys)), planned})`,
  -1,
  { readOnly: true },
);

/** A cjson array that may have come back as `{}` (empty table). */
const listOf = <T>(value: T[] | Record<string, never> | undefined): T[] => (Array.isArray(value) ? value : []);
/** cjson's nil (`false`) as the null ioredis gives for a nil reply. */
const nilToNull = <T>(value: T | false | undefined): T | null => (value === false || value === undefined ? null : value);

/** Hints per hashed key (bounded; oldest dropped first). One per authenticator. */
export class KeyReadAhead {
  private readonly hints = new Map<string, Hint>();
  private readonly dates = new CostKeyDates();

  constructor(
    private readonly planner: ReadAheadPlanner | undefined,
    private readonly maxHints = 10_000,
  ) {}

  /** The one-round-trip lookup, or null when there is no usable hint (the caller does the ordinary lookup). */
  async lookup(redis: Redis, clock: Clock, hashed: string): Promise<ReadAheadResult | null> {
    return (await this.start(redis, clock, hashed)) ?? null;
  }

  /**
   * Issue the lookup now (the EVALSHA_RO is written synchronously once the script is loaded) and hand back
   * its pending result, or null without a hint. Used to start the read while the request body is still
   * arriving (prefetch).
   */
  start(redis: Redis, clock: Clock, hashed: string): Promise<ReadAheadResult | null> | null {
    const hint = this.hints.get(hashed);
    if (!hint) return null;
    const costKeys = keyCostKeys(clock, hint.id, this.dates);
    const keyList = [keys.apiKeyHashMap(), keys.apiKey(hint.id), ...costKeys, ...hint.plan.map((r) => r.key)];
    const args = [hashed, String(costKeys.length), ...hint.plan.map((r) => r.cmd)];
    return READ.run(redis, keyList, args).then(
      (text) => this.resolve(hashed, hint, text as string),
      () => {
        this.hints.delete(hashed);
        return null;
      },
    );
  }

  private resolve(hashed: string, hint: Hint, text: string): ReadAheadResult | null {
    const [mapped, flat, costValues, planned] = JSON.parse(text) as ReadReply;
    if (mapped !== hint.id || !Array.isArray(flat) || flat.length === 0) {
      this.hints.delete(hashed);
      return null;
    }
    const record = flatHash(flat, { id: hint.id }) as ApiKeyHash;
    const replies = new Map<string, unknown>();
    if (this.planner && samePlan(this.planner(record), hint.plan)) {
      hint.plan.forEach((r, i) => {
        const reply = planned[i];
        if (!reply || reply[0] !== 1) return; // the read failed (e.g. WRONGTYPE): the route reads it itself
        replies.set(`${r.cmd} ${r.key}`, r.cmd === 'hgetall' ? flatHash(listOf(reply[1] as string[] | Record<string, never>)) : nilToNull(reply[1]));
      });
    }
    return { record, costs: keyCostsOf(listOf(costValues).map(nilToNull)), readAhead: new ReadAhead(replies) };
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
