import type { Socket } from 'node:net';
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
 * declared for this key (e.g. its bound account), all in one round trip: a read-only script on a busy
 * gateway, the native commands in one write after a pause (KeyReadAhead.start). The key id (and the
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
 * The lookup's answer: [HGET hash_map, HGETALL key (flat), MGET costs, per planned read [1, reply] or [0]
 * (error)]. From the script it is one JSON text (Redis' cjson), which writes a nil as `false` and an empty table
 * as `{}`; from the native commands, ioredis' null and [].
 */
type ReadReply = [string | false | null, string[] | Record<string, never>, Array<string | false | null>, Array<readonly [1, unknown] | readonly [0]>];

/**
 * Lookups at least this far apart (ms) are made with native commands (see KeyReadAhead.start). Under the bench's
 * throughput load (~1,400 req/s) 0.9 % of lookups find such a gap (15 % with 2 ms), so a busy gateway keeps the
 * script's lower CPU per lookup; a pause of 10 ms is also when Redis' script cost is the cold one.
 */
export const NATIVE_AFTER_IDLE_MS = 10;

/**
 * The reads of one lookup in one EVALSHA_RO (read-only: Redis refuses writes from it, the shadow tap sees a
 * read). On a busy gateway a script rather than a pipeline of the same commands: the same reads in one round
 * trip, and no pipeline object per request. The replies come back as one JSON text (cjson.encode in Redis, one
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

function scriptReads(redis: Redis, hashed: string, hint: Hint, costKeys: string[]): Promise<ReadReply> {
  const keyList = [keys.apiKeyHashMap(), keys.apiKey(hint.id), ...costKeys, ...hint.plan.map((r) => r.key)];
  const args = [hashed, String(costKeys.length), ...hint.plan.map((r) => r.cmd)];
  return READ.run(redis, keyList, args).then((text) => JSON.parse(text as string) as ReadReply);
}

/**
 * The same reads as native commands, written in one socket write (the connection's socket is corked while they
 * are queued). HGETALL is sent through call() so the reply stays the flat field/value list (ioredis turns a
 * `hgetall` reply into an object). Null when the connection is not ready (the script path then queues).
 */
function nativeReads(redis: Redis, hashed: string, hint: Hint, costKeys: string[]): Promise<ReadReply> | null {
  const socket = (redis as unknown as { stream?: Socket }).stream;
  if (redis.status !== 'ready' || !socket || socket.destroyed) return null;
  socket.cork();
  try {
    const mapped = redis.hget(keys.apiKeyHashMap(), hashed);
    const flat = redis.call('HGETALL', keys.apiKey(hint.id)) as Promise<string[]>;
    const costs = redis.mget(...costKeys);
    const planned = hint.plan.map((r) => (redis.call(r.cmd.toUpperCase(), r.key) as Promise<unknown>).then((v) => [1, v] as const, () => [0] as const));
    return Promise.all([mapped, flat, costs, Promise.all(planned)]);
  } finally {
    socket.uncork();
  }
}

/** Hints per hashed key (bounded; oldest dropped first). One per authenticator. */
export class KeyReadAhead {
  private readonly hints = new Map<string, Hint>();
  private readonly dates = new CostKeyDates();
  private lastStart = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly planner: ReadAheadPlanner | undefined,
    private readonly maxHints = 10_000,
    /** See start(); 0: always native, Infinity: always the script (tests). */
    private readonly nativeAfterIdleMs = NATIVE_AFTER_IDLE_MS,
  ) {}

  /** The one-round-trip lookup, or null when there is no usable hint (the caller does the ordinary lookup). */
  async lookup(redis: Redis, clock: Clock, hashed: string): Promise<ReadAheadResult | null> {
    return (await this.start(redis, clock, hashed)) ?? null;
  }

  /**
   * Issue the lookup now (written synchronously: the script's EVALSHA_RO once it is loaded, or the native
   * commands) and hand back its pending result, or null without a hint. Used to start the read while the
   * request body is still arriving (prefetch).
   *
   * Which form: a lookup that comes less than NATIVE_AFTER_IDLE_MS after the previous one (a busy gateway) runs
   * the script, which costs the gateway less CPU per lookup (one reply to decode); one after a pause runs the
   * same reads as native commands in one write, which cost Redis ~35 us instead of ~150 us when it has been
   * asleep. On a loopback host the kernel runs the woken Redis on the writer's CPU, inside the write, so on an
   * idle gateway Redis' time is the request's time (measured in session 6: the write of the script's call
   * returned 0.29 ms after it began). Both forms answer the same (tests run both).
   */
  start(redis: Redis, clock: Clock, hashed: string): Promise<ReadAheadResult | null> | null {
    const hint = this.hints.get(hashed);
    if (!hint) return null;
    const costKeys = keyCostKeys(clock, hint.id, this.dates);
    const at = performance.now();
    const idle = at - this.lastStart >= this.nativeAfterIdleMs;
    this.lastStart = at;
    const reply = (idle && nativeReads(redis, hashed, hint, costKeys)) || scriptReads(redis, hashed, hint, costKeys);
    return reply.then(
      (r) => this.resolve(hashed, hint, r),
      () => {
        this.hints.delete(hashed);
        return null;
      },
    );
  }

  private resolve(hashed: string, hint: Hint, reply: ReadReply): ReadAheadResult | null {
    const [mapped, flat, costValues, planned] = reply;
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
