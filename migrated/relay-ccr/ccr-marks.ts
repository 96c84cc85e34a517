import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';

/**
 * CCR account state writes, field for field as ccrAccountService writes them
 * (HMSET field order kept; times as ISO strings from the clock).
 */
export class CcrMarks {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  private key(id: string): string {
    return keys.account('ccr', id);
  }

  private nowIso(): string {
    return new Date(this.clock.now()).toISOString();
  }

  async unauthorized(id: string): Promise<void> {
    if (!(await this.redis.exists(this.key(id)))) return;
    await this.redis.hset(this.key(id), { status: 'unauthorized', errorMessage: 'API key invalid or unauthorized' });
  }

  /** Skipped when the account's rateLimitDuration parses to 0 (rate limiting disabled). */
  async rateLimited(id: string): Promise<void> {
    const [exists, duration] = await Promise.all([this.redis.exists(this.key(id)), this.redis.hget(this.key(id), 'rateLimitDuration')]);
    if (!exists) return;
    if (Number.parseInt(duration ?? '', 10) === 0) return;
    await this.redis.hset(this.key(id), { status: 'rate_limited', rateLimitedAt: this.nowIso(), rateLimitStatus: 'active', errorMessage: 'Rate limited by upstream service' });
  }

  async overloaded(id: string): Promise<void> {
    if (!(await this.redis.exists(this.key(id)))) return;
    await this.redis.hset(this.key(id), { status: 'overloaded', overloadedAt: this.nowIso(), errorMessage: 'Account overloaded' });
  }

  /** isAccountRateLimited: still inside `rateLimitedAt + (rateLimitDuration||60) min`; an expired mark is removed. */
  async isRateLimited(id: string): Promise<boolean> {
    const [at, duration] = await this.redis.hmget(this.key(id), 'rateLimitedAt', 'rateLimitDuration');
    if (!at) return false;
    const minutes = Number.parseInt(duration ?? '', 10) || 60;
    if (this.clock.now() < new Date(at).getTime() + minutes * 60_000) return true;
    await this.removeRateLimit(id);
    return false;
  }

  async removeRateLimit(id: string): Promise<void> {
    const [, quotaStoppedAt] = await this.redis.hmget(this.key(id), 'status', 'quotaStoppedAt');
    await this.redis.hdel(this.key(id), 'rateLimitedAt', 'rateLimitStatus');
    await this.redis.hset(this.key(id), quotaStoppedAt ? { status: 'quota_exceeded', errorMessage: 'Account stopped due to quota exceeded' } : { status: 'active', errorMessage: '' });
  }

  async isOverloaded(id: string): Promise<boolean> {
    return (await this.redis.hget(this.key(id), 'status')) === 'overloaded';
  }

  async removeOverload(id: string): Promise<void> {
    await this.redis.hdel(this.key(id), 'overloadedAt');
    await this.redis.hset(this.key(id), { status: 'active', errorMessage: '' });
  }

  /** After a 200/201: clear a rate-limit mark (either branch of isAccountRateLimited removes it), then an overload mark. */
  async success(id: string): Promise<void> {
    if (await this.isRateLimited(id)) await this.removeRateLimit(id);
    if (await this.isOverloaded(id)) await this.removeOverload(id);
  }

  /** _updateLastUsedTime: plain HSET (creates the key if the account vanished, as the legacy does). */
  async touch(id: string): Promise<void> {
    await this.redis.hset(this.key(id), 'lastUsedAt', this.nowIso());
  }
}
