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
 * refers to its key by index; arguments follow in ARGV.
 *
 * Measured (bench/sections/30-data-layer.ts): for ~170 commands this is several times faster
 * than a MULTI or even a pipeline through ioredis.
 */
const APPLY = new LuaScript(
  'applyWriteBatch',
  `local i, n, failed = 1, #ARGV, {}
while i <= n do
  local cmd, key, count = ARGV[i], KEYS[tonumber(ARGV[i + 1])], tonumber(ARGV[i + 2])
  local r = redis.pcall(cmd, key, unpack(ARGV, i + 3, i + 2 + count))
  if type(r) == 'table' and r.err then failed[#failed + 1] = cmd .. ' ' .. key .. ': ' .. r.err end
  i = i + 3 + count
end
return failed`,
  -1,
);

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
  lpush(key: string, value: string) {
    return this.push('LPUSH', key, value);
  }
  ltrim(key: string, start: number, stop: number) {
    return this.push('LTRIM', key, start, stop);
  }
  xadd(key: string, ...args: string[]) {
    return this.push('XADD', key, ...args);
  }

  /** Apply everything in one EVALSHA; resolves to the list of per-command failures (empty = all applied). */
  async apply(redis: Redis): Promise<string[]> {
    if (this.count === 0) return [];
    return (await APPLY.run(redis, this.keyList, this.args)) as string[];
  }
}

/** Adapter: queue WriteOps on an ioredis pipeline/MULTI instead (tests, benchmarks). */
export function pipelineOps(p: ChainableCommander): WriteOps {
  return p as unknown as WriteOps;
}
