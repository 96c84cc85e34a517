import type { ChainableCommander, Redis } from 'ioredis';
import { LuaScript } from '../locks/lua-script.js';
import { flatHash } from './flat-hash.js';

/**
 * A batch of write commands applied by ONE EVALSHA of a generic Lua script: one round trip,
 * atomic with respect to other clients and to connection loss (the script runs whole or not
 * at all; a lost connection before the call writes nothing). Each command runs with
 * redis.pcall, so a failing one (e.g. WRONGTYPE under a corrupted key) is reported and the
 * others still apply — the same per-command outcome as the legacy's pipelines.
 *
 * Arguments go through exactly as the legacy's client sent them (strings from JS String()),
 * so INCRBYFLOAT/HINCRBYFLOAT sums are formatted by Redis identically.
 * Every key is declared in KEYS (numkeys), so tools that route or sandbox by key — the shadow
 * mode's copy-on-first-touch overlay — see exactly which keys the script writes. Each command
 * refers to its key by index; the commands and arguments follow, packed into ARGV[1] (see jsonString() and WriteBatch.packed()).
 *
 * Redis time per usage batch (~170 commands, INFO commandstats on a quiet Redis): it was ~1.2 ms,
 * half of it walking a length-prefixed argument in Lua, the rest ~170 redis.pcall calls. Now the
 * argument is a JSON array decoded by Redis' built-in cjson (~0.06 ms), and consecutive HINCRBYs on
 * one hash (the usage counters: ~130 of the 170) run as one HMGET and one HSET with the sums
 * computed in the script — when every current value is a plain integer of at most 15 digits, so the
 * sums are exact and print as HINCRBY would; otherwise (a non-integer value, a longer number, a hash
 * of another type) that run falls back to HINCRBY one by one, with HINCRBY's own errors. Increments
 * that are not such integers never join a run. Same writes, same order, same final values; ~0.5 ms.
 * Since session 8 only runs joined from three or more requests are summed that way; a hash's one or two runs go
 * HINCRBY by HINCRBY inside the script, which costs Redis less at that size (valgrind, instructions per call: a
 * one-request usage batch 3.69M -> 2.54M; 49 batches dumped under load, ~4 requests each, 7.80M -> 7.57M). And when
 * no hash has two runs (the client counts them and says so in ARGV[2]) the script only splits its list, without the
 * joining pass: 2.54M -> 2.40M.
 * Client side, one EVALSHA for ~170 commands is several times cheaper than a MULTI or a pipeline
 * through ioredis (bench/sections/30-data-layer.ts).
 *
 * A batch may carry the writes of several requests (the usage recorder joins the requests of one API key recorded
 * in the same loop turn). The script then also joins a run into the first run on its hash when only EXPIREs and
 * HINCRBYFLOATs on other fields came between, and once such a HINCRBYFLOAT came, only when the run adds no field
 * (a new hash's fields keep the order one command after another gives them); it skips an EXPIRE that already
 * succeeded on the same key with the same TTL in this call (the script's commands all see the same time); and the
 * batch keeps one KEYTOUCH per key and one single-field HSETIFEXISTS per key and field, replaced by a later one when
 * nothing was queued on its keys in between. The final state is what the requests leave one after another
 * (write-batch.test.ts), with one HMGET and one HSET per hash instead of one pair per request (from three
 * requests on; one or two go HINCRBY by HINCRBY, see above).
 */
const APPLY = new LuaScript(
  'applyWriteBatch',
  `local list, failed, touched = cjson.decode(ARGV[1]), {}, 0
local pos, n = 1, #list
local find, format = string.find, string.format
local LIMIT = 999999999999999
local function int(s)
  if #s > 15 then return nil end
  if s == '0' then return 0 end
  if find(s, '^-?[1-9]%d*$') then return tonumber(s) end
  return nil
end
local function check(cmd, key, r)
  if type(r) == 'table' and r.err then failed[#failed + 1] = cmd .. ' ' .. key .. ': ' .. r.err end
end
-- segs: {from, count, from, count, ...}: list[from..from+count-1] = field, increment, ... (plain integers, checked by
-- the client), the runs of one hash in order; summed into one HMGET and one HSET. One or two runs are left to the
-- caller's HINCRBY pair by pair (false): at that size the sums cost Redis more than the HINCRBYs (valgrind: a one-
-- request usage batch 3.69M -> 2.54M instructions)
local function hincrbys(key, segs)
  if #segs <= 4 then return false end
  local fields, seen = {}, {}
  for s = 1, #segs, 2 do
    for j = segs[s], segs[s] + segs[s + 1] - 1, 2 do
      local f = list[j]
      if not seen[f] then seen[f] = true fields[#fields + 1] = f end
    end
  end
  local cur = redis.pcall('HMGET', key, unpack(fields))
  if type(cur) ~= 'table' or cur.err then return false end
  local value = {}
  for k = 1, #fields do
    local c = cur[k]
    local base
    if c then base = int(c) else base = 0 end
    if base == nil then return false end
    value[fields[k]] = base
  end
  for s = 1, #segs, 2 do
    for j = segs[s], segs[s] + segs[s + 1] - 1, 2 do
      local f = list[j]
      local v = value[f] + tonumber(list[j + 1])
      if v > LIMIT or v < -LIMIT then return false end
      value[f] = v
    end
  end
  local args = {}
  for i = 1, #fields do
    args[#args + 1] = fields[i]
    args[#args + 1] = format('%d', value[fields[i]])
  end
  check('HSET', key, redis.pcall('HSET', key, unpack(args)))
  return true
end
-- Pass 1: a HINCRBYS run joins the first run on its hash when nothing but EXPIRE and HINCRBYFLOAT on other fields
-- came between (the batches of several requests on the same hashes: one HMGET and one HSET per hash, the same sums),
-- and, once a HINCRBYFLOAT came between, only when it adds no field (a new hash's fields keep the order they get one
-- command after another). op = {cmd, key index, from, count, segments, fields of the joined runs, HINCRBYFLOAT seen}
local ops, open = {}, {}
-- ARGV[2] = '1': no hash has two runs (the client counted), so nothing can join: the list is only split into ops
if ARGV[2] == '1' then
  while pos <= n do
    local cmd, ki, count = list[pos], tonumber(list[pos + 1]), tonumber(list[pos + 2])
    local from = pos + 3
    pos = from + count
    local op = {cmd, ki, from, count}
    if cmd == 'HINCRBYS' then op[5] = {from, count} end
    ops[#ops + 1] = op
  end
end
while pos <= n do
  local cmd, ki, count = list[pos], tonumber(list[pos + 1]), tonumber(list[pos + 2])
  local from = pos + 3
  pos = from + count
  local op = {cmd, ki, from, count}
  if cmd == 'HINCRBYS' then
    local head = open[ki]
    if head and head[7] then
      for j = from, from + count - 1, 2 do
        if not head[6][list[j]] then head = nil break end
      end
    end
    if head then
      local segs = head[5]
      segs[#segs + 1] = from
      segs[#segs + 1] = count
      for j = from, from + count - 1, 2 do head[6][list[j]] = true end
      op[1] = 'JOINED'
    else
      local fields = {}
      for j = from, from + count - 1, 2 do fields[list[j]] = true end
      op[5], op[6], op[7] = {from, count}, fields, false
      open[ki] = op
    end
  elseif open[ki] and not (cmd == 'EXPIRE' or (cmd == 'HINCRBYFLOAT' and count == 2)) then
    open[ki] = nil
  elseif cmd == 'HINCRBYFLOAT' and open[ki] then
    if open[ki][6][list[from]] then open[ki] = nil else open[ki][7] = true end
  end
  ops[#ops + 1] = op
end
-- Pass 2: in order; an EXPIRE already applied to the same key with the same TTL in this call is not repeated (the
-- script's commands all see the same time, so it would set the same expiry) unless a command that may drop the TTL came between
local expired = {}
local KEEPS_TTL = {HSET = true, HINCRBY = true, HINCRBYFLOAT = true, INCRBY = true, INCRBYFLOAT = true, LPUSH = true, LTRIM = true, XADD = true}
for o = 1, #ops do
  local op = ops[o]
  local cmd, key, from, count = op[1], KEYS[op[2]], op[3], op[4]
  if cmd == 'JOINED' then
  elseif cmd == 'HINCRBYS' then
    local segs = op[5]
    if not hincrbys(key, segs) then
      for s = 1, #segs, 2 do
        for j = segs[s], segs[s] + segs[s + 1] - 1, 2 do check('HINCRBY', key, redis.pcall('HINCRBY', key, list[j], list[j + 1])) end
      end
    end
  elseif cmd == 'EXPIRE' and expired[key] == list[from] then
  else
    local a = {}
    for j = 1, count do a[j] = list[from + j - 1] end
    if cmd == 'KEYTOUCH' then
      local legacyKey, mapKey, id, iso, ttl, want = KEYS[tonumber(a[1])], KEYS[tonumber(a[2])], a[3], a[4], a[5], a[6]
      local data, own = redis.call('HGETALL', key), true
      if #data == 0 then data, own = redis.call('HGETALL', legacyKey), false end
      if #data == 0 then
        touched = -1
      else
        local hashed = nil
        for j = 1, #data, 2 do if data[j] == 'apiKey' then hashed = data[j + 1] end end
        if hashed and hashed ~= '' then redis.pcall('HSET', mapKey, hashed, id) end
        if not own then redis.pcall('HSET', key, unpack(data)) end
        check('HSET', key, redis.pcall('HSET', key, 'lastUsedAt', iso))
        redis.pcall('EXPIRE', key, ttl)
        if want == '1' then touched = redis.call('HGETALL', key) else touched = 1 end
      end
    elseif cmd == 'HSETIFEXISTS' then
      if redis.call('EXISTS', key) == 1 then check('HSET', key, redis.pcall('HSET', key, unpack(a))) end
    elseif cmd == 'EXPIRE' then
      local r = redis.pcall('EXPIRE', key, a[1])
      check(cmd, key, r)
      if r == 1 then expired[key] = a[1] end
    else
      check(cmd, key, redis.pcall(cmd, key, unpack(a)))
      if not KEEPS_TTL[cmd] then expired[key] = nil end
    end
  end
end
return {failed, touched}`,
  -1,
);

/** Largest magnitude the script sums itself (15 digits: exact in a double, printed by %d as Redis would). */
const MAX_RUN_INTEGER = 999_999_999_999_999;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
/** Printable ASCII without `"` and `\`: JSON.stringify writes such a string between quotes unchanged. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * The command list travels as ONE argument: a JSON array of strings (command, key index, argument
 * count, arguments, ...), decoded in the script by cjson — the bytes Redis gets for each string are
 * the UTF-8 the client would have sent for it as an argument of its own. JSON.stringify escapes a
 * lone surrogate as \\udXXX, which cjson would not turn into the U+FFFD a UTF-8 encoder writes, so
 * such strings are made well-formed first (U+FFFD, exactly what the socket write would have done).
 *
 * The array is written as it is queued, element by element, never as an array of strings handed
 * to JSON.stringify: `jsonString(s)` is exactly JSON.stringify(s) after that surrogate rule
 * (so the packed text is byte for byte `JSON.stringify(list)` of the list the element-by-element
 * form describes; write-batch.test.ts checks both against each other).
 */
export function jsonString(s: string): string {
  if (PLAIN.test(s)) return '"' + s + '"';
  const json = JSON.stringify(s);
  // a lone surrogate comes out as a \udXXX escape; anything else with "\ud" in it (an escaped
  // backslash before "ud") goes through the replacement unchanged
  return json.includes('\\ud') ? JSON.stringify(s.replace(LONE_SURROGATE, '\ufffd')) : json;
}

/** `"0"` .. `"511"`: key indexes, argument counts, small increments (a constant table). */
const SMALL: readonly string[] = Object.freeze(Array.from({ length: 512 }, (_, i) => `"${i}"`));

/** Slots of the direct-mapped cache of number texts (PackTexts.num). */
const NUM_SLOTS = 127;
/** Field-name texts kept per PackTexts (bounded: field names can carry model names). */
const FIELD_LIMIT = 4096;

/** JSON text of a small non-negative integer (key indexes, argument counts). */
const smallOrText = (n: number): string => SMALL[n] ?? `"${n}"`;

/** An increment a HINCRBYS run takes: an integer of at most 15 digits (see the script). */
const runnable = (by: number): boolean => Number.isInteger(by) && Math.abs(by) <= MAX_RUN_INTEGER;

/**
 * Command headers `"CMD","<key index>","<argument count>"` as one JSON text, made once per
 * (index, count) and command (key indexes and counts are small; larger ones are built each time).
 */
class Heads {
  private readonly byIdx: Array<string[] | undefined> = [];
  constructor(private readonly cmd: string) {}
  get(idx: number, argc: number): string {
    if (idx >= 256 || argc >= 64) return this.make(idx, argc);
    const row = this.byIdx[idx] ?? (this.byIdx[idx] = []);
    return row[argc] ?? (row[argc] = this.make(idx, argc));
  }
  private make(idx: number, argc: number): string {
    return [`"${this.cmd}"`, smallOrText(idx), smallOrText(argc)].join(',');
  }
}

/**
 * The JSON texts batches are packed from, made once and kept by their owner (a UsageRecorder keeps one
 * for all its batches; a WriteBatch made without one has its own): numbers' String(), field names and
 * command heads. Pure memo tables, bounded: what they hold never changes a packed byte, only how often
 * it is computed.
 */
export class PackTexts {
  /**
   * Number texts: small integers from the constant table, others from a small direct-mapped cache (one
   * batch repeats each value several times: a request's token counts on ~12 hashes, its cost on 4 keys,
   * the same TTLs), since String() of a double is not cheap.
   */
  private readonly numKeys = new Float64Array(NUM_SLOTS).fill(Number.NaN);
  private readonly numTexts: string[] = new Array<string>(NUM_SLOTS).fill('');
  private readonly fieldTexts = new Map<string, string>();
  readonly heads = {
    HINCRBY: new Heads('HINCRBY'),
    HINCRBYS: new Heads('HINCRBYS'),
    HINCRBYFLOAT: new Heads('HINCRBYFLOAT'),
    INCRBY: new Heads('INCRBY'),
    INCRBYFLOAT: new Heads('INCRBYFLOAT'),
    EXPIRE: new Heads('EXPIRE'),
    HSET: new Heads('HSET'),
    HSETIFEXISTS: new Heads('HSETIFEXISTS'),
    LPUSH: new Heads('LPUSH'),
    LTRIM: new Heads('LTRIM'),
    XADD: new Heads('XADD'),
    KEYTOUCH: new Heads('KEYTOUCH'),
  } as const;

  /** JSON text of a number's String(). */
  num(n: number): string {
    if (n >= 0 && n < 512 && Number.isInteger(n)) return SMALL[n]!;
    // NaN never equals a slot; -0 is caught above (String(-0) is "0")
    const slot = Number.isInteger(n) ? Math.abs(n % NUM_SLOTS) : Math.abs((n * 1e9) % NUM_SLOTS) | 0;
    if (this.numKeys[slot] === n) return this.numTexts[slot]!;
    const text = '"' + n + '"';
    this.numKeys[slot] = n;
    this.numTexts[slot] = text;
    return text;
  }

  /** JSON text of a hash field name. */
  field(field: string): string {
    let t = this.fieldTexts.get(field);
    if (t === undefined) {
      if (this.fieldTexts.size >= FIELD_LIMIT) this.fieldTexts.clear();
      // kept as one flat string (join; a concatenation is a tree walked each time it is copied)
      t = PLAIN.test(field) ? ['"', field, '"'].join('') : jsonString(field);
      this.fieldTexts.set(field, t);
    }
    return t;
  }

  /** `jsonString(String(v))` for what callers pass as arguments (numbers are ASCII: no escaping). */
  arg(v: unknown): string {
    if (typeof v === 'string') return jsonString(v);
    if (typeof v === 'number') return this.num(v);
    return jsonString(String(v));
  }
}

/**
 * HINCRBYs prepared once and queued on several hashes: `batch.hincrbyAll(key, pairs)` queues
 * exactly what `hincrby(key, fields[i], values[i])` for each i queues, with the pairs' JSON text
 * made once (the usage counters put the same six fields and increments on ~12 hashes per request).
 */
export class HincrbyPairs {
  /** `"field","value",...` when every increment can join a run; null: hincrbyAll queues them one by one. */
  readonly text: string | null;

  constructor(
    readonly fields: readonly string[],
    readonly values: readonly number[],
    texts: PackTexts = new PackTexts(),
  ) {
    const pieces: string[] = [];
    for (let i = 0; i < fields.length; i++) {
      const by = values[i]!;
      if (!runnable(by)) break;
      pieces.push(texts.field(fields[i]!), texts.num(by));
    }
    // join: one flat string (it is copied into the packed argument once per hash)
    this.text = pieces.length === 2 * fields.length ? pieces.join(',') : null;
  }
}

/** Past this many distinct keys, key indexes are looked up in a Map instead of scanning the list. */
const SCAN_LIMIT = 48;
/** Room made up front for parts: a request's usage batch has ~180 (growing an array from empty to that allocates twice as much). */
const PARTS_HINT = 224;

/**
 * What KEYTOUCH found: `missing` when neither `apikey:{id}` nor `api_key:{id}` exists (nothing
 * written), else `touched`, with the hash as it is after the touch when it was asked for.
 */
export type KeyTouchOutcome = { state: 'none' } | { state: 'missing' } | { state: 'touched'; hash?: Record<string, string> };

export interface BatchOutcome {
  failed: string[];
  keyTouch: KeyTouchOutcome;
}

/** The write commands the data layer queues; implemented by WriteBatch and by pipelines. */
export interface WriteOps {
  hincrby(key: string, field: string, by: number): unknown;
  hincrbyfloat(key: string, field: string, by: number): unknown;
  incrby(key: string, by: number): unknown;
  incrbyfloat(key: string, by: number): unknown;
  expire(key: string, seconds: number): unknown;
  hset(key: string, ...fieldValues: string[]): unknown;
  lpush(key: string, value: string): unknown;
  ltrim(key: string, start: number, stop: number): unknown;
  xadd(key: string, ...args: string[]): unknown;
}

export class WriteBatch implements WriteOps {
  /** `texts`: the owner's memo of packed texts (see PackTexts); a batch without one makes its own. */
  constructor(private readonly texts: PackTexts = new PackTexts()) {}

  /**
   * The packed list as JSON texts of one or more elements each (no separators): the argument is
   * `[` + parts joined by `,` + `]`. A HINCRBYS run's header (with its argument count) is a part
   * of its own, replaced when the run grows.
   */
  private readonly parts: string[] = new Array<string>(PARTS_HINT);
  /** Parts written so far (the array is made with room for a usage batch, not grown part by part). */
  private n = 0;
  private readonly keyList: string[] = [];
  /** Sequence number of the last command queued on each key (by key index): a later command may replace an earlier one only when none came between. */
  private readonly lastOp: number[] = [];
  private seq = 0;
  /** The KEYTOUCH of a key: its arguments' part index, what it must match to be replaced, the sequence numbers it left on its three keys. */
  private readonly touchAt = new Map<string, { at: number; sig: string; seqs: [number, number, number]; idx: [number, number, number] }>();
  /** A single-field HSETIFEXISTS by key and field: its value's part index and sequence number. */
  private readonly ifExistsAt = new Map<string, { at: number; seq: number; idx: number }>();
  private keyIndex: Map<string, number> | null = null;
  private lastKey: string | null = null;
  private lastIdx = 0;
  private count = 0;
  /** The open HINCRBYS run (consecutive HINCRBYs on one key): its key index, where its header sits, its argument count. */
  private runKey = 0;
  private runHeadAt = -1;
  private runCount = 0;
  /** Runs opened per key index; `oneRunEach`: no key has two (the script then skips its joining pass). */
  private readonly runsOn: number[] = [];
  private oneRunEach = true;

  private indexOf(key: string): number {
    if (key === this.lastKey) return this.lastIdx;
    const list = this.keyList;
    let idx = this.keyIndex ? (this.keyIndex.get(key) ?? 0) : list.indexOf(key) + 1;
    if (idx === 0) {
      list.push(key);
      idx = list.length;
      if (this.keyIndex) this.keyIndex.set(key, idx);
      else if (idx > SCAN_LIMIT) this.keyIndex = new Map(list.map((k, i) => [k, i + 1]));
    }
    this.lastKey = key;
    this.lastIdx = idx;
    return idx;
  }

  /** Append JSON texts (one or more elements each). */
  private put(a: string, b?: string, c?: string, d?: string, e?: string, f?: string): void {
    const parts = this.parts;
    parts[this.n++] = a;
    if (b === undefined) return;
    parts[this.n++] = b;
    if (c === undefined) return;
    parts[this.n++] = c;
    if (d === undefined) return;
    parts[this.n++] = d;
    if (e === undefined) return;
    parts[this.n++] = e;
    if (f !== undefined) parts[this.n++] = f;
  }

  /** Command header (name, key index, argument count); closes an open HINCRBYS run. */
  private head(heads: Heads, key: string, argc: number): void {
    this.runHeadAt = -1;
    const idx = this.indexOf(key);
    this.lastOp[idx] = ++this.seq;
    this.put(heads.get(idx, argc));
    this.count++;
  }

  private pushN(heads: Heads, key: string, args: ReadonlyArray<unknown>): this {
    this.head(heads, key, args.length);
    for (let i = 0; i < args.length; i++) this.put(this.texts.arg(args[i]));
    return this;
  }

  /** The distinct keys written, in first-use order. */
  get keys(): readonly string[] {
    return this.keyList;
  }

  /** Number of Redis commands queued. */
  get length(): number {
    return this.count;
  }

  /**
   * HINCRBY; consecutive ones on the same key travel as one HINCRBYS run (applied in order). An
   * increment that is not an integer of at most 15 digits goes as a HINCRBY of its own (Redis then
   * answers it exactly, errors included), so the script never has to check a run's increments.
   */
  hincrby(key: string, field: string, by: number): this {
    if (!runnable(by)) {
      this.head(this.texts.heads.HINCRBY, key, 2);
      this.put(this.texts.field(field), this.texts.num(by));
      return this;
    }
    this.runOn(key, 2);
    this.put(this.texts.field(field), this.texts.num(by));
    this.count++;
    return this;
  }

  /** `hincrby(key, pairs.fields[i], pairs.values[i])` for every pair, in order. */
  hincrbyAll(key: string, pairs: HincrbyPairs): this {
    const n = pairs.fields.length;
    if (pairs.text === null) {
      for (let i = 0; i < n; i++) this.hincrby(key, pairs.fields[i]!, pairs.values[i]!);
      return this;
    }
    if (n === 0) return this;
    this.runOn(key, 2 * n);
    this.put(pairs.text);
    this.count += n;
    return this;
  }

  /** Continue the open HINCRBYS run when it is on `key`, else open one; `argc` more arguments follow. */
  private runOn(key: string, argc: number): void {
    const idx = this.indexOf(key);
    this.lastOp[idx] = ++this.seq;
    if (this.runHeadAt >= 0 && this.runKey === idx) {
      this.runCount += argc;
      this.parts[this.runHeadAt] = this.texts.heads.HINCRBYS.get(idx, this.runCount);
    } else {
      this.runKey = idx;
      this.runHeadAt = this.n;
      this.runCount = argc;
      if ((this.runsOn[idx] = (this.runsOn[idx] ?? 0) + 1) > 1) this.oneRunEach = false;
      this.put(this.texts.heads.HINCRBYS.get(idx, argc));
    }
  }
  hincrbyfloat(key: string, field: string, by: number) {
    this.head(this.texts.heads.HINCRBYFLOAT, key, 2);
    this.put(this.texts.field(field), this.texts.num(by));
    return this;
  }
  incrby(key: string, by: number) {
    this.head(this.texts.heads.INCRBY, key, 1);
    this.put(this.texts.num(by));
    return this;
  }
  incrbyfloat(key: string, by: number) {
    this.head(this.texts.heads.INCRBYFLOAT, key, 1);
    this.put(this.texts.num(by));
    return this;
  }
  expire(key: string, seconds: number) {
    this.head(this.texts.heads.EXPIRE, key, 1);
    this.put(this.texts.num(seconds));
    return this;
  }
  hset(key: string, ...fieldValues: string[]) {
    return this.pushN(this.texts.heads.HSET, key, fieldValues);
  }
  /**
   * HSET only when the key exists (EXISTS + HSET in the same script: an account's lastUsedAt touch). A second one on the
   * same key and single field in this batch replaces the first one's value (the latest wins, as it would in order).
   */
  hsetIfExists(key: string, ...fieldValues: string[]) {
    if (fieldValues.length !== 2) return this.pushN(this.texts.heads.HSETIFEXISTS, key, fieldValues);
    const id = `${key}\n${fieldValues[0]}`;
    const earlier = this.ifExistsAt.get(id);
    if (earlier !== undefined && this.lastOp[earlier.idx] === earlier.seq) {
      this.parts[earlier.at] = this.texts.arg(fieldValues[1]);
      return this;
    }
    const at = this.n + 2;
    this.pushN(this.texts.heads.HSETIFEXISTS, key, fieldValues);
    const idx = this.indexOf(key);
    this.ifExistsAt.set(id, { at, seq: this.lastOp[idx]!, idx });
    return this;
  }
  lpush(key: string, value: string) {
    this.head(this.texts.heads.LPUSH, key, 1);
    this.put(this.texts.arg(value));
    return this;
  }
  /**
   * LPUSH of a value given as its element text: `element` must be exactly jsonString(value) (the
   * caller writes it directly, e.g. a usage record; see records.ts basicRecordElement).
   */
  lpushElement(key: string, element: string) {
    this.head(this.texts.heads.LPUSH, key, 1);
    this.put(element);
    return this;
  }
  ltrim(key: string, start: number, stop: number) {
    this.head(this.texts.heads.LTRIM, key, 2);
    this.put(this.texts.num(start), this.texts.num(stop));
    return this;
  }
  xadd(key: string, ...args: string[]) {
    return this.pushN(this.texts.heads.XADD, key, args);
  }

  /**
   * The legacy's `getApiKey` + `lastUsedAt = now` + `setApiKey(id, data)` (recordUsage), done inside
   * the script on the hash as it is at that moment (no read round trip, no stale rewrite):
   * `apikey:{id}` (else a copy of `api_key:{id}`) gets `lastUsedAt`, `apikey:hash_map[apiKey] = id`,
   * EXPIRE `ttlSeconds`. Nothing is written when neither hash exists (outcome `missing`).
   */
  touchApiKey(keys3: { key: string; legacyKey: string; hashMap: string }, keyId: string, iso: string, ttlSeconds: number, returnHash: boolean): this {
    // a batch that already touches this key (several requests of a turn, see record-usage.ts) touches it once, at the
    // latest time, when nothing else was queued on its keys in between
    const sig = `${keys3.legacyKey}\n${keys3.hashMap}\n${keyId}\n${ttlSeconds}`;
    const earlier = this.touchAt.get(keys3.key);
    const lastOp = this.lastOp;
    if (earlier !== undefined && earlier.sig === sig && earlier.idx.every((i, j) => lastOp[i] === earlier.seqs[j])) {
      this.parts[earlier.at + 3] = this.texts.arg(iso);
      if (returnHash) this.parts[earlier.at + 5] = SMALL[1]!;
      return this;
    }
    this.head(this.texts.heads.KEYTOUCH, keys3.key, 6);
    const at = this.n;
    const idx: [number, number, number] = [this.indexOf(keys3.key), this.indexOf(keys3.legacyKey), this.indexOf(keys3.hashMap)];
    lastOp[idx[1]] = lastOp[idx[2]] = lastOp[idx[0]]!;
    this.touchAt.set(keys3.key, { at, sig, seqs: [lastOp[idx[0]]!, lastOp[idx[1]]!, lastOp[idx[2]]!], idx });
    this.put(this.texts.num(this.indexOf(keys3.legacyKey)), this.texts.num(this.indexOf(keys3.hashMap)), this.texts.arg(keyId), this.texts.arg(iso), this.texts.num(ttlSeconds), returnHash ? SMALL[1]! : SMALL[0]!);
    return this;
  }

  /** The packed argument (ARGV[1]): a JSON array of strings, see jsonString(). */
  packed(): string {
    const parts = this.parts;
    const n = this.n;
    if (n === 0) return '[]';
    if (parts.length !== n) parts.length = n; // drop the unused room (join walks the whole array)
    // brackets folded into the first and last parts so that join() makes the one flat string sent
    const last = n - 1;
    const first = parts[0]!;
    const end = parts[last]!;
    parts[0] = '[' + first;
    parts[last] = (last === 0 ? parts[0] : end) + ']';
    const json = parts.join(',');
    parts[0] = first;
    parts[last] = end;
    return json;
  }

  /** Apply everything in one EVALSHA; resolves to the list of per-command failures (empty = all applied). */
  async apply(redis: Redis): Promise<string[]> {
    return (await this.applyDetailed(redis)).failed;
  }

  /**
   * Apply everything in one EVALSHA, with the KEYTOUCH outcome. The EVALSHA is written to the
   * connection synchronously when the script is already loaded on it (callers may rely on that
   * ordering: a command issued after this call reaches Redis after the batch).
   */
  applyDetailed(redis: Redis): Promise<BatchOutcome> {
    if (this.count === 0) return Promise.resolve({ failed: [], keyTouch: { state: 'none' } });
    return APPLY.run(redis, this.keyList, [this.packed(), this.oneRunEach ? '1' : '0']).then(outcome);
  }
}

function outcome(raw: unknown): BatchOutcome {
  const [failed, touched] = raw as [string[], number | string[]];
  let keyTouch: KeyTouchOutcome = { state: 'none' };
  if (touched === -1) keyTouch = { state: 'missing' };
  else if (touched === 1) keyTouch = { state: 'touched' };
  else if (Array.isArray(touched)) {
    keyTouch = { state: 'touched', hash: flatHash(touched) };
  }
  return { failed: failed ?? [], keyTouch };
}

/** Adapter: queue WriteOps on an ioredis pipeline/MULTI instead (tests, benchmarks). */
export function pipelineOps(p: ChainableCommander): WriteOps {
  return p as unknown as WriteOps;
}
