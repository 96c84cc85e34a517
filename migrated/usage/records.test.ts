import { describe, expect, it } from 'vitest';
import { jsonString } from '../storage/write-batch.js';
import { basicRecord, basicRecordElement, type BasicRecordArgs } from './records.js';

describe('basicRecordElement', () => {
  const STRINGS = ['2026-11-26T11:52:03.699Z', 'claude-sonnet-4-5-20250929', 'us.anthropic.claude-3-5-sonnet-20241022-v2:0', '', 'q"uote', 'back\\slash', 'héllo', '😀', 'a\ud800b', 'tab\there', '<x>&'];
  const NUMBERS = [0, -0, 1, 22, 1e21, 0.1 + 0.2, 0.00028619999999999996, 1e-7, -1.5, 123456789.123456789, Number.NaN, Number.POSITIVE_INFINITY];

  it('is the batch element of basicRecord (JSON text of its JSON), or null for the general path', () => {
    let seed = 7;
    const r = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
    const num = () => (r() < 0.5 ? pick(NUMBERS) : Math.floor(r() * 1e6) / (r() < 0.5 ? 1 : 1e7));
    let direct = 0;
    for (let i = 0; i < 5000; i++) {
      const costs: Record<string, number> = { input: num(), output: num(), cacheWrite: num(), cacheRead: num(), total: num() };
      if (r() < 0.05) costs['extra'] = 1;
      const a: BasicRecordArgs = {
        timestamp: r() < 0.9 ? STRINGS[0]! : pick(STRINGS),
        model: pick(STRINGS),
        accountId: pick([null, '', 'a02045ea-9d91-47f4-a198-5eeb3aa35e39', 'ä', 'x"y']),
        inputTokens: num(),
        outputTokens: num(),
        cacheCreateTokens: num(),
        cacheReadTokens: num(),
        totalTokens: num(),
        usageCost: num(),
        fuelUsed: r() < 0.8 ? 0 : num(),
        costs: (r() < 0.05 ? { total: 1, input: 1, output: 1, cacheWrite: 1, cacheRead: 1 } : costs) as unknown as BasicRecordArgs['costs'],
      };
      const element = basicRecordElement(a);
      if (element !== null) {
        direct++;
        expect(element).toBe(jsonString(basicRecord(a)));
      }
    }
    expect(direct).toBeGreaterThan(100);
  });

  it('a plain Console record is written directly', () => {
    const a: BasicRecordArgs = {
      timestamp: '2026-11-26T11:52:03.699Z',
      model: 'claude-sonnet-4-5-20250929',
      accountId: 'a02045ea-9d91-47f4-a198-5eeb3aa35e39',
      inputTokens: 22,
      outputTokens: 11,
      cacheCreateTokens: 12,
      cacheReadTokens: 34,
      totalTokens: 79,
      usageCost: 0.00028619999999999996,
      fuelUsed: 0,
      costs: { input: 0.000066, output: 0.000165, cacheWrite: 0.000045, cacheRead: 0.000010199999999999999, total: 0.00028619999999999996 },
    };
    expect(basicRecordElement(a)).toBe(jsonString(basicRecord(a)));
    expect(basicRecordElement({ ...a, model: 'mödel' })).toBeNull();
  });
});
