import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { backgroundRefresh } from './background-refresh.js';

export interface CachedJsonConfigOptions<T> {
  /** The Redis string key holding the JSON object. */
  key: string;
  /** A fresh copy of the defaults the stored object is spread over. */
  defaults: () => T;
  ttlMs: number;
  /**
   * When the cache age starts: `read-start` (the clock before the GET) or `read-end` (after it) —
   * the legacy services differ here and each reader keeps its own.
   */
  stampAt: 'read-start' | 'read-end';
}

/**
 * A global JSON config the legacy keeps in one Redis string and caches per process: the stored object
 * spread over the defaults, kept `ttlMs`; a missing key is cached as the defaults; a failed read or bad
 * JSON gives the defaults and is not cached (the next call reads again). One instance per owner, with the
 * injected clock (no module state).
 *
 * Refresh ahead: a value used in the second half of its lifetime is read again in the background (one read
 * at a time, after the current turn of the event loop), so steady traffic never waits for the read at expiry
 * while no answer is older than `ttlMs`, the legacy's bound. Misses still read each on their own, as the
 * legacy's do.
 */
export class CachedJsonConfig<T extends object> {
  private cached: T | null = null;
  private cachedAt = 0;
  private readonly refreshAhead = backgroundRefresh(() => this.read());

  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
    private readonly o: CachedJsonConfigOptions<T>,
  ) {}

  /** The cached value while it is fresh (what get() would answer without reading), else null. */
  fresh(): T | null {
    const age = this.clock.now() - this.cachedAt;
    if (!this.cached || age >= this.o.ttlMs) return null;
    if (age >= this.o.ttlMs / 2) this.refreshAhead();
    return this.cached;
  }

  async get(): Promise<T> {
    return this.fresh() ?? this.read();
  }

  private async read(): Promise<T> {
    const start = this.clock.now();
    try {
      const raw = await this.redis.get(this.o.key);
      const stored: unknown = raw ? JSON.parse(raw) : null;
      this.cached = { ...this.o.defaults(), ...(stored && typeof stored === 'object' ? stored : {}) };
      this.cachedAt = this.o.stampAt === 'read-start' ? start : this.clock.now();
      return this.cached;
    } catch {
      return this.o.defaults();
    }
  }
}
