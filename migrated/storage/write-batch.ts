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
 * Measured (bench/sections/30-data-layer.ts): for ~170 commands this is several times faster
 * than a MULTI or even a pipeline through ioredis.
 */
const APPLY = new LuaScript(
  'applyWriteBatch',
  `local buf, pos, failed, touched = ARGV[1], 1, {}, 0
local n = #buf
local find, sub = string.find, string.sub
local function item()
  local c = find(buf, ':', pos, true)
  local len = tonumber(sub(buf, pos, c - 1))
  local v = sub(buf, c + 1, c + len)
  pos = c + len + 1
  return v
end
while pos <= n do
  local cmd, key, count = item(), KEYS[tonumber(item())], tonumber(item())
  local a = {}
  for j = 1, count do a[j] = item() end
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
      local r = redis.pcall('HSET', key, 'lastUsedAt', iso)
      if type(r) == 'table' and r.err then failed[#failed + 1] = 'HSET ' .. key .. ': ' .. r.err end
      redis.pcall('EXPIRE', key, ttl)
      if want == '1' then touched = redis.call('HGETALL', key) else touched = 1 end
    end
  elseif cmd == 'HSETIFEXISTS' then
    if redis.call('EXISTS', key) == 1 then
      local r = redis.pcall('HSET', key, unpack(a))
      if type(r) == 'table' and r.err then failed[#failed + 1] = 'HSET ' .. key .. ': ' .. r.err end
    end
  else
    local r = redis.pcall(cmd, key, unpack(a))
    if type(r) == 'table' and r.err then failed[#failed + 1] = cmd .. ' ' .. key .. ': ' .. r.err end
  end
end
return {failed, touched}`,
  -1,
);

/**
 * The command list travels as ONE argument: every item (command, key index, argument count,
 * arguments) as `<byte length>:<bytes>`, back to back — binary-safe, and ~800 RESP bulk strings
 * fewer per usage batch for the client to encode and the socket to carry.
 */
function pack(items: readonly string[]): string {
  let out = '';
  for (const it of items) out += `${Buffer.byteLength(it)}:${it}`;
  return out;
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
  private readonly args: string[] = [];
  private readonly keyList: string[] = [];
  private readonly keyIndex = new Map<string, number>();
  private count = 0;

  private push(cmd: string, key: string, ...a: Array<string | number>): this {
    let idx = this.keyIndex.get(key);
    if (idx === undefined) {
      this.keyList.push(key);
      idx = this.keyList.length;
      this.keyIndex.set(key, idx);
    }
    this.args.push(cmd, String(idx), String(a.length), ...a.map(String));
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

  hincrby(key: string, field: string, by: number) {
    return this.push('HINCRBY', key, field, by);
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
    const idx = (k: string) => {
      let i = this.keyIndex.get(k);
      if (i === undefined) {
        this.keyList.push(k);
        i = this.keyList.length;
        this.keyIndex.set(k, i);
      }
      return i;
    };
    const main = idx(keys3.key);
    const extra = [idx(keys3.legacyKey), idx(keys3.hashMap), keyId, iso, ttlSeconds, returnHash ? 1 : 0];
    this.args.push('KEYTOUCH', String(main), String(extra.length), ...extra.map(String));
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
    return APPLY.run(redis, this.keyList, [pack(this.args)]).then((raw) => {
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
