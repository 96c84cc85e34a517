import { createHash } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';

/**
 * One Lua script, run with EVALSHA. The SHA is computed locally; the script is loaded
 * (SCRIPT LOAD) once per connection on first use, and again only when Redis answers
 * NOSCRIPT (after a restart or SCRIPT FLUSH). `queue` adds an EVALSHA to a pipeline/MULTI
 * (call `ensureLoaded` first).
 *
 * `readOnly` scripts run with EVALSHA_RO (Redis >= 7.0): Redis refuses any write from them, and
 * tools that classify commands (the shadow mode's Redis tap) see a read, not a write of every key.
 * On a Redis without EVALSHA_RO the first call fails over to EVALSHA for good.
 */
export class LuaScript {
  readonly sha: string;
  private loadedOn = new WeakSet<Redis>();
  private readOnlyCommand: boolean;

  constructor(
    readonly name: string,
    readonly source: string,
    /** Fixed number of KEYS, or -1 for "any" (the caller passes them). */
    readonly numberOfKeys: number,
    opts: { readOnly?: boolean } = {},
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
    this.readOnlyCommand = opts.readOnly === true;
  }

  async ensureLoaded(redis: Redis): Promise<void> {
    if (this.loadedOn.has(redis)) return;
    await redis.script('LOAD', this.source);
    this.loadedOn.add(redis);
  }

  /**
   * EVALSHA. When the script is already loaded on this connection, the command is written
   * synchronously (no await before it), so callers can order it against later commands/responses.
   */
  run(redis: Redis, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    if (this.numberOfKeys >= 0 && keys.length !== this.numberOfKeys) return Promise.reject(new Error(`${this.name}: expected ${this.numberOfKeys} keys, got ${keys.length}`));
    const argv = [...keys, ...args.map(String)];
    const call = (): Promise<unknown> => (this.readOnlyCommand ? redis.evalsha_ro(this.sha, keys.length, ...argv) : redis.evalsha(this.sha, keys.length, ...argv));
    const withReload = (p: Promise<unknown>) =>
      p.catch(async (err: unknown) => {
        if (err instanceof Error && err.message.startsWith('NOSCRIPT')) {
          this.loadedOn.delete(redis);
          await this.ensureLoaded(redis);
          return call();
        }
        if (this.readOnlyCommand && err instanceof Error && /unknown command/i.test(err.message)) {
          this.readOnlyCommand = false; // Redis < 7.0
          return call();
        }
        throw err;
      });
    if (this.loadedOn.has(redis)) return withReload(call());
    return this.ensureLoaded(redis).then(() => withReload(call()));
  }

  /** Queue an EVALSHA on a pipeline or MULTI (the script must be loaded: ensureLoaded). */
  queue(p: ChainableCommander, keys: readonly string[], args: ReadonlyArray<string | number>): ChainableCommander {
    return p.evalsha(this.sha, keys.length, ...keys, ...args.map(String));
  }
}
