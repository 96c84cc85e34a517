import { describe, expect, it } from 'vitest';
import type { Logger } from 'pino';
import { frozenClock } from '../runtime/clock.js';
import { ApiKeyRepository } from '../storage/api-keys.js';
import { rebuildCostRank, type CostRankRange } from './cost-rank.js';
import { startMaintenance } from './index.js';
import { recordingLog, sweepFixture } from './sweep-fixture.test-helper.js';

/**
 * The admin's cost ranking (costRankService.updateRank) on a real Redis and PostgreSQL. The day arithmetic follows the
 * legacy's, which reads UTC-parsed dates back in process-local time: the expectations assume a UTC process (CI's).
 */
const NOW = Date.parse('2026-11-27T06:20:00.000Z'); // 14:20 on 2026-11-27 at TIMEZONE_OFFSET 8
const clock = frozenClock(NOW, 8);
const { lines: logged, log } = recordingLog();
const f = sweepFixture('gwrank', clock, logged);
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const repo = () => new ApiKeyRepository({ redis: f.redis, clock, log: { warn: () => undefined } as unknown as Pick<Logger, 'warn'>, pgStore: f.store });
const rebuild = (range: CostRankRange) => rebuildCostRank(f.redis, repo(), range, () => clock.now(), 8, log);

async function seedKeys(): Promise<void> {
  const [k1, k2, k3] = [uuid(1), uuid(2), uuid(3)];
  await f.redis.hset(`apikey:${k1}`, { id: k1, name: 'spender', isDeleted: 'false' });
  await f.redis.hset(`apikey:${k2}`, { id: k2, name: 'deleted', isDeleted: 'true' });
  await f.redis.hset(`apikey:${k3}`, { id: k3, name: 'idle' });
  await f.redis.hset('apikey:hash_map', 'h1', k1, 'h2', k2, 'h3', k3);
  await f.redis.set(`usage:cost:daily:${k1}:2026-11-27`, '1.5');
  await f.redis.set(`usage:cost:daily:${k1}:2026-11-26`, '2');
  await f.redis.set(`usage:cost:daily:${k1}:2026-11-20`, '8'); // 7 days back: outside "7days" (21st to 27th)
  await f.redis.set(`usage:cost:daily:${k1}:2026-11-17`, '4');
  await f.redis.set(`usage:cost:daily:${k1}:2026-10-28`, '16'); // 30 days back: outside "30days"
  await f.redis.set(`usage:cost:total:${k1}`, '40.25');
  await f.redis.set(`usage:cost:daily:${k2}:2026-11-27`, '99');
  const k4 = uuid(4);
  await f.pg.sql`insert into api_keys (id, hashed_key, data) values (${k4}, 'h4', ${f.pg.sql.json({ id: k4, name: 'pg only', isDeleted: false })})`;
  await f.redis.set(`usage:cost:total:${k4}`, '0.5');
}

describe('cost rank rebuild (costRankService.updateRank)', () => {
  it('scores every key not deleted with its cost over the range; meta ready; lock and temporary key gone', async () => {
    await seedKeys();
    const expected: Record<CostRankRange, Record<string, string>> = {
      today: { [uuid(1)]: '1.5', [uuid(3)]: '0', [uuid(4)]: '0' },
      '7days': { [uuid(1)]: '3.5', [uuid(3)]: '0', [uuid(4)]: '0' },
      '30days': { [uuid(1)]: '15.5', [uuid(3)]: '0', [uuid(4)]: '0' },
      all: { [uuid(1)]: '40.25', [uuid(3)]: '0', [uuid(4)]: '0.5' },
    };
    for (const range of ['today', '7days', '30days', 'all'] as const) {
      expect(await rebuild(range)).toBe(true);
      const flat = await f.redis.zrange(`cost_rank:${range}`, 0, -1, 'WITHSCORES');
      const got: Record<string, string> = {};
      for (let i = 0; i < flat.length; i += 2) got[flat[i]!] = flat[i + 1]!;
      expect(got, range).toEqual(expected[range]);
      expect(await f.redis.hgetall(`cost_rank_meta:${range}`)).toEqual({ status: 'ready', lastUpdate: new Date(NOW).toISOString(), keyCount: '3', updateDuration: '0' });
      expect(await f.redis.exists(`cost_rank_lock:${range}`)).toBe(0);
    }
    expect(await f.redis.keys('cost_rank:*:temp:*')).toEqual([]);
  });

  it('another process rebuilding (lock held) → skipped; no key → index deleted; a bad counter → meta failed, index kept', async () => {
    await f.redis.set('cost_rank_lock:today', '1', 'EX', 300);
    await f.redis.zadd('cost_rank:today', 5, 'old');
    expect(await rebuild('today')).toBe(false);
    expect(await f.redis.zrange('cost_rank:today', 0, -1)).toEqual(['old']);
    await f.redis.del('cost_rank_lock:today');
    expect(await rebuild('today')).toBe(true);
    expect(await f.redis.exists('cost_rank:today')).toBe(0);
    expect(await f.redis.hget('cost_rank_meta:today', 'keyCount')).toBe('0');

    await seedKeys();
    await f.redis.zadd('cost_rank:today', 5, 'old');
    await f.redis.set(`usage:cost:daily:${uuid(3)}:2026-11-27`, 'not a number');
    expect(await rebuild('today')).toBe(true);
    expect(await f.redis.hget('cost_rank_meta:today', 'status')).toBe('failed');
    expect(await f.redis.zrange('cost_rank:today', 0, -1)).toEqual(['old']);
    expect(await f.redis.exists('cost_rank_lock:today')).toBe(0);
    expect(await f.redis.keys('cost_rank:*:temp:*')).toEqual([]);
    expect(logged.some((l) => l.level === 'error' && l.msg === 'cost rank update failed')).toBe(true);
  });

  it('maintenance rebuilds every range at start', async () => {
    await seedKeys();
    const m = startMaintenance({ redis: () => f.redis, pg: () => f.pg.sql, clock, log, intervalMs: 3_600_000, hourlyIntervalMs: 3_600_000, rateLimitIntervalMs: 3_600_000 });
    try {
      const deadline = Date.now() + 3000;
      while ((await f.redis.exists('cost_rank:all')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      for (const range of ['today', '7days', '30days', 'all']) expect(await f.redis.zcard(`cost_rank:${range}`), range).toBe(3);
    } finally {
      m.stop();
    }
  });
});
