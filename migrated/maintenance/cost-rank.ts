import type { Redis } from 'ioredis';
import type { ApiKeyRepository } from '../storage/api-keys.js';
import { dateString, keys } from '../storage/keys.js';

export type CostRankRange = 'today' | '7days' | '30days' | 'all';

/** The ranges in the legacy's order, with their rebuild periods (costRankService UPDATE_INTERVALS). */
export const COST_RANK_PERIODS: ReadonlyArray<[CostRankRange, number]> = [
  ['today', 10 * 60_000],
  ['7days', 30 * 60_000],
  ['30days', 60 * 60_000],
  ['all', 2 * 60 * 60_000],
];

/** The rebuild lock's expiry (seconds) and the keys read per pipeline. */
const LOCK_TTL_S = 300;
const BATCH = 100;

type RankLog = { info(obj: object, msg: string): void; error(obj: object, msg: string): void };

/** `YYYY-MM-DD` for every day from `start` to `end` (the legacy parses them as UTC and reads them back in local time). */
function datesBetween(start: string, end: string): string[] {
  const out: string[] = [];
  const current = new Date(start);
  const last = new Date(end);
  while (current <= last) {
    out.push(`${current.getFullYear()}-${String(current.getMonth() + 1).padStart(2, '0')}-${String(current.getDate()).padStart(2, '0')}`);
    current.setDate(current.getDate() + 1);
  }
  return out;
}

/** The days a range sums (`null`: the all-time total), dated in TIMEZONE_OFFSET like the cost keys. */
function rangeDays(range: CostRankRange, nowMs: number, offsetHours: number): string[] | null {
  if (range === 'all') return null;
  const today = dateString(nowMs, offsetHours);
  if (range === 'today') return [today];
  const from = new Date(nowMs);
  from.setDate(from.getDate() - (range === '7days' ? 6 : 29));
  return datesBetween(dateString(from.getTime(), offsetHours), today);
}

/** Each key's cost over the range: its daily cost keys summed, or its total (100 keys per pipeline). */
async function costsOf(redis: Redis, ids: string[], days: string[] | null): Promise<Map<string, number>> {
  const costs = new Map<string, number>();
  for (let i = 0; i < ids.length; i += BATCH) {
    const batch = ids.slice(i, i + BATCH);
    const p = redis.pipeline();
    for (const id of batch) {
      if (days) for (const day of days) p.get(keys.costDaily(id, day));
      else p.get(keys.costTotal(id));
    }
    const replies = (await p.exec()) ?? [];
    let at = 0;
    for (const id of batch) {
      let sum = 0;
      for (let d = 0; d < (days ? days.length : 1); d++) {
        const [err, value] = replies[at++] ?? [null, null];
        if (!err && value) sum += Number.parseFloat(String(value));
      }
      costs.set(id, sum);
    }
  }
  return costs;
}

/**
 * One rebuild of `cost_rank:{range}` (costRankService.updateRank), the sorted set the legacy admin sorts keys by cost
 * with: under `cost_rank_lock:{range}` (SET NX EX 300; skipped while another process holds it), `cost_rank_meta` set
 * to `updating`, every key not soft-deleted (listed as getAllApiKeys lists them) scored with its cost over the range
 * (daily cost keys, or the total for `all`), written to a temporary key and RENAMEd over the index; the meta then
 * gets `lastUpdate`, `keyCount`, `status` ready and `updateDuration`. No key: the index is deleted. A failure marks
 * the meta `failed` (logged). The lock is released at the end either way. Returns false only when another process
 * held the lock (nothing done).
 */
export async function rebuildCostRank(redis: Redis, apiKeys: ApiKeyRepository, range: CostRankRange, now: () => number, offsetHours: number, log: RankLog): Promise<boolean> {
  const lock = keys.costRankLock(range);
  if ((await redis.set(lock, '1', 'EX', LOCK_TTL_S, 'NX')) !== 'OK') return false;
  const meta = keys.costRankMeta(range);
  const index = keys.costRank(range);
  const started = now();
  const finish = (count: number) =>
    redis.hset(meta, { lastUpdate: new Date(now()).toISOString(), keyCount: String(count), status: 'ready', updateDuration: String(now() - started) });
  try {
    await redis.hset(meta, 'status', 'updating');
    const ids = (await apiKeys.listAll()).filter((k) => k['isDeleted'] !== 'true').map((k) => k.id);
    if (ids.length === 0) {
      await redis.del(index);
      await finish(0);
      return true;
    }
    const costs = await costsOf(redis, ids, rangeDays(range, started, offsetHours));
    const temp = keys.costRankTemp(range, now());
    const members: Array<string | number> = [];
    costs.forEach((cost, id) => members.push(cost, id));
    try {
      await redis.zadd(temp, ...members);
      await redis.rename(temp, index);
    } catch (err) {
      await redis.del(temp).catch(() => undefined);
      throw err;
    }
    await finish(ids.length);
    log.info({ range, keys: ids.length, ms: now() - started }, 'cost rank updated');
    return true;
  } catch (err) {
    await redis.hset(meta, 'status', 'failed').catch(() => undefined);
    log.error({ range, err: (err as Error).message }, 'cost rank update failed');
    return true;
  } finally {
    await redis.del(lock).catch(() => undefined);
  }
}
