import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { dateString, keys, weekString } from '../storage/keys.js';

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

/** The five counter keys loadKeyCosts reads, for `now` (MGET order). */
export function keyCostKeys(clock: Clock, keyId: string): string[] {
  const now = clock.now();
  const today = dateString(now, clock.timezoneOffsetHours);
  const week = weekString(now, clock.timezoneOffsetHours);
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
