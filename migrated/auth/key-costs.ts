import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { dateString, effectiveOffsetHours, keys, weekString } from '../storage/keys.js';

/**
 * The cost counters validateApiKey loads on every authentication (auth-and-keys.md §3.1):
 * today's cost, total cost, fuel-pack consumption (daily / total) and this week's Opus cost.
 * One pipelined round trip.
 */
export interface KeyCosts {
  dailyCost: number;
  totalCost: number;
  fuelUsedDaily: number;
  fuelUsedTotal: number;
  weeklyOpusCost: number;
}

const float0 = (v: string | null | undefined): number => Number.parseFloat(v || '0');

/**
 * The date parts of the cost keys (today, this week), worked out once per day of the offset zone: both depend
 * only on the zone's calendar day. One per owner (the key read-ahead keeps one); on a streamed request's cold
 * path the two date formats cost ~25 us.
 */
export class CostKeyDates {
  private day = Number.NaN;
  private offset = Number.NaN;
  private today = '';
  private week = '';

  parts(clock: Clock): { today: string; week: string } {
    const now = clock.now();
    const offset = clock.timezoneOffsetHours;
    const day = Math.floor((now + effectiveOffsetHours(offset) * 3_600_000) / 86_400_000);
    if (day !== this.day || offset !== this.offset) {
      this.today = dateString(now, offset);
      this.week = weekString(now, offset);
      this.day = day;
      this.offset = offset;
    }
    return { today: this.today, week: this.week };
  }
}

/**
 * The five counter keys loadKeyCosts reads, for `now` (MGET order); `dates` remembers the day's date parts (without
 * one they are worked out for this call).
 */
export function keyCostKeys(clock: Clock, keyId: string, dates: CostKeyDates = new CostKeyDates()): string[] {
  const { today, week } = dates.parts(clock);
  return [keys.costDaily(keyId, today), keys.costTotal(keyId), keys.fuelUsedDaily(keyId, today), keys.fuelUsedTotal(keyId), keys.opusWeekly(keyId, week)];
}

/** The MGET reply of keyCostKeys as KeyCosts. */
export function keyCostsOf(values: ReadonlyArray<string | null | undefined>): KeyCosts {
  return {
    dailyCost: float0(values[0]),
    totalCost: float0(values[1]),
    fuelUsedDaily: float0(values[2]),
    fuelUsedTotal: float0(values[3]),
    weeklyOpusCost: float0(values[4]),
  };
}

export async function loadKeyCosts(redis: Redis, clock: Clock, keyId: string): Promise<KeyCosts> {
  return keyCostsOf(await redis.mget(...keyCostKeys(clock, keyId)));
}
