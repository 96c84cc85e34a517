import { describe, expect, it } from 'vitest';
import type { Clock } from '../runtime/clock.js';
import { CostKeyDates, keyCostKeys } from './key-costs.js';

const clockAt = (state: { now: number }, timezoneOffsetHours: number): Clock => ({ now: () => state.now, timezoneOffsetHours }) as Clock;

describe('cost key dates', () => {
  it('remembered per zone day: the same keys as computing them each time, across zone midnights, week and year turns and offsets', () => {
    const state = { now: Date.UTC(2026, 11, 27, 15, 59, 59, 999) }; // 23:59:59.999 on Dec 27 at +8
    const dates = new CostKeyDates();
    const steps = [0, 1, 3_600_000, 86_400_000 * 3, 86_400_000 * 2 - 1, 1, 86_400_000 * 370, 12_345];
    for (const offset of [8, 0, -5, 5.5]) {
      const clock = clockAt(state, offset);
      for (const step of steps) {
        state.now += step;
        expect(keyCostKeys(clock, 'k1', dates)).toEqual(keyCostKeys(clock, 'k1'));
      }
    }
  });

  it('the day turns at the zone midnight, not at UTC midnight', () => {
    const state = { now: Date.UTC(2026, 10, 26, 15, 59, 59, 999) };
    const clock = clockAt(state, 8);
    const dates = new CostKeyDates();
    expect(keyCostKeys(clock, 'k', dates)[0]).toBe('usage:cost:daily:k:2026-11-26');
    state.now += 1;
    expect(keyCostKeys(clock, 'k', dates)[0]).toBe('usage:cost:daily:k:2026-11-27');
  });
});
