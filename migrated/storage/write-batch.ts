import type { ChainableCommander, Redis } from 'ioredis';
import { LuaScript } from '../locks/lua-script.js';

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
 * refers to its key by index; the commands and arguments follow, packed into ARGV[1] (see pack()).
 *
 * Redis time per usage batch (~170 commands, INFO commandstats on a quiet Redis): it was ~1.2 ms,
 * half of it walking a length-prefixed argument in Lua, the rest ~170 redis.pcall calls. Now the
 * argument is a JSON array decoded by Redis' built-in cjson (~0.06 ms), and consecutive HINCRBYs on
 * one hash (the usage counters: ~130 of the 170) run as one HMGET and one HSET with the sums
 * computed in the script — when every current value is a plain integer of at most 15 digits, so the
 * sums are exact and print as HINCRBY would; otherwise (a non-integer value, a longer number, a hash
 * of another type) that run falls back to HINCRBY one by one, with HINCRBY's own errors. Increments
 * that are not such integers never join a run. Same writes, same order, same final values; ~0.5 ms.
 * Client side, one EVALSHA for ~170 commands is several times cheaper than a MULTI or a pipeline
 * through ioredis (bench/sections/30-data-layer.ts).
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
-- list[from..from+count-1] = field, increment, field, increment, ... (increments: plain integers, checked by the client)
local function hincrbys(key, from, count)
  local fields, last = {}, from + count - 1
  for j = from, last, 2 do fields[#fields + 1] = list[j] end
  local cur = redis.pcall('HMGET', key, unpack(fields))
  if type(cur) ~= 'table' or cur.err then return false end
  local value, order, k = {}, {}, 0
  for j = from, last, 2 do
    local f = list[j]
    k = k + 1
    local base = value[f]
    if base == nil then
      local c = cur[k]
      if c then base = int(c) else base = 0 end
      if base == nil then return false end
      order[#order + 1] = f
    end
    local v = base + tonumber(list[j + 1])
    if v > LIMIT or v < -LIMIT then return false end
    value[f] = v
  end
  local args = {}
  for i = 1, #order do
    args[#args + 1] = order[i]
    args[#args + 1] = format('%d', value[order[i]])
  end
  check('HSET', key, redis.pcall('HSET', key, unpack(args)))
  return true
end
while pos <= n do
  local cmd, key, count = list[pos], KEYS[tonumber(list[pos + 1])], tonumber(list[pos + 2])
  local from = pos + 3
  pos = from + count
  if cmd == 'HINCRBYS' then
    if not hincrbys(key, from, count) then
      for j = from, from + count - 1, 2 do check('HINCRBY', key, redis.pcall('HINCRBY', key, list[j], list[j + 1])) end
    end
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
    else
      check(cmd, key, redis.pcall(cmd, key, unpack(a)))
    end
  end
end
return {failed, touched}`,
  -1,
);

/** Largest magnitude the script sums itself (15 digits: exact in a double, printed by %d as Redis would). */
const MAX_RUN_INTEGER = 999_999_999_999_999;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The command list travels as ONE argument: a JSON array of strings (command, key index, argument
 * count, arguments, ...), decoded in the script by cjson — the bytes Redis gets for each string are
 * the UTF-8 the client would have sent for it as an argument of its own. JSON.stringify escapes a
 * lone surrogate as \\udXXX, which cjson would not turn into the U+FFFD a UTF-8 encoder writes, so
 * such strings are made well-formed first (U+FFFD, exactly what the socket write would have done).
 */
function pack(items: readonly string[]): string {
  const json = JSON.stringify(items);
  return /\\ud[89a-f]/i.test(json) ? JSON.stringify(items.map((s) => s.replace(LONE_SURROGATE, '\ufffd'))) : json;
}

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
  private readonly items: string[] = [];
  private readonly keyList: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  private count = 0;
  /** The open HINCRBYS run (consecutive HINCRBYs on one key): its key index and where its argument count sits. */
  private runKey = 0;
  private runCountAt = -1;

  private indexOf(key: string): number {
    let idx = this.keyIndex.get(key);
    if (idx === undefined) {
      this.keyList.push(key);
      idx = this.keyList.length;
      this.keyIndex.set(key, idx);
    }
    return idx;
  }

  private push(cmd: string, key: string, ...a: Array<string | number>): this {
    const idx = this.indexOf(key);
    this.runCountAt = -1;
    this.items.push(cmd, String(idx), String(a.length));
    for (const v of a) this.items.push(String(v));
    this.count++;
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
    if (!(Number.isInteger(by) && Math.abs(by) <= MAX_RUN_INTEGER)) return this.push('HINCRBY', key, field, by);
    const idx = this.indexOf(key);
    if (this.runCountAt >= 0 && this.runKey === idx) {
      this.items.push(field, String(by));
      this.items[this.runCountAt] = String(Number(this.items[this.runCountAt]) + 2);
    } else {
      this.items.push('HINCRBYS', String(idx), '2', field, String(by));
      this.runKey = idx;
      this.runCountAt = this.items.length - 3;
    }
    this.count++;
    return this;
  }
  hincrbyfloat(key: string, field: string, by: number) {
    return this.push('HINCRBYFLOAT', key, field, by);
  }
  incrby(key: string, by: number) {
    return this.push('INCRBY', key, by);
  }
  incrbyfloat(key: string, by: number) {
    return this.push('INCRBYFLOAT', key, by);
  }
  expire(key: string, seconds: number) {
    return this.push('EXPIRE', key, seconds);
  }
  hset(key: string, ...fieldValues: string[]) {
    return this.push('HSET', key, ...fieldValues);
  }
  /** HSET only when the key exists (EXISTS + HSET in the same script: an account's lastUsedAt touch). */
  hsetIfExists(key: string, ...fieldValues: string[]) {
    return this.push('HSETIFEXISTS', key, ...fieldValues);
  }
  lpush(key: string, value: string) {
    return this.push('LPUSH', key, value);
  }
  ltrim(key: string, start: number, stop: number) {
    return this.push('LTRIM', key, start, stop);
  }
  xadd(key: string, ...args: string[]) {
    return this.push('XADD', key, ...args);
  }

  /**
   * The legacy's `getApiKey` + `lastUsedAt = now` + `setApiKey(id, data)` (recordUsage), done inside
   * the script on the hash as it is at that moment (no read round trip, no stale rewrite):
   * `apikey:{id}` (else a copy of `api_key:{id}`) gets `lastUsedAt`, `apikey:hash_map[apiKey] = id`,
   * EXPIRE `ttlSeconds`. Nothing is written when neither hash exists (outcome `missing`).
   */
  touchApiKey(keys3: { key: string; legacyKey: string; hashMap: string }, keyId: string, iso: string, ttlSeconds: number, returnHash: boolean): this {
    const main = this.indexOf(keys3.key);
    const extra = [this.indexOf(keys3.legacyKey), this.indexOf(keys3.hashMap), keyId, iso, ttlSeconds, returnHash ? 1 : 0];
    this.runCountAt = -1;
    this.items.push('KEYTOUCH', String(main), String(extra.length));
    for (const v of extra) this.items.push(String(v));
    this.count++;
    return this;
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
    return APPLY.run(redis, this.keyList, [pack(this.items)]).then((raw) => {
      const [failed, touched] = raw as [string[], number | string[]];
      let keyTouch: KeyTouchOutcome = { state: 'none' };
      if (touched === -1) keyTouch = { state: 'missing' };
      else if (touched === 1) keyTouch = { state: 'touched' };
      else if (Array.isArray(touched)) {
        const hash: Record<string, string> = {};
        for (let j = 0; j + 1 < touched.length; j += 2) hash[touched[j]!] = touched[j + 1]!;
        keyTouch = { state: 'touched', hash };
      }
      return { failed: failed ?? [], keyTouch };
    });
  }
}

/** Adapter: queue WriteOps on an ioredis pipeline/MULTI instead (tests, benchmarks). */
export function pipelineOps(p: ChainableCommander): WriteOps {
  return p as unknown as WriteOps;
}
