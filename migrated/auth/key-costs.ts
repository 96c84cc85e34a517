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

export async function loadKeyCosts(redis: Redis, clock: Clock, keyId: string): Promise<KeyCosts> {
  const now = clock.now();
  const today = dateString(now, clock.timezoneOffsetHours);
  const week = weekString(now, clock.timezoneOffsetHours);
  const values = await redis.mget(
    keys.costDaily(keyId, today),
    keys.costTotal(keyId),
    keys.fuelUsedDaily(keyId, today),
    keys.fuelUsedTotal(keyId),
    keys.opusWeekly(keyId, week),
  );
  return {
    dailyCost: float0(values[0]),
    totalCost: float0(values[1]),
    fuelUsedDaily: float0(values[2]),
    fuelUsedTotal: float0(values[3]),
    weeklyOpusCost: float0(values[4]),
  };
}
