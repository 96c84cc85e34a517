import { describe, expect, it } from 'vitest';
import { frozenClock } from '../runtime/clock.js';
import { bucketsAt, dateString, encodeValue, epochMinute, hourString, hsetArgs, keys, monthString, normalizeModelName, nowBuckets, weekString } from './keys.js';

const T = Date.parse('2026-11-26T11:52:01.817Z'); // exchange 04

describe('time buckets (legacy offset-zone rules)', () => {
  it('exchange 04: date, month, hour in UTC+8 and the plain epoch minute', () => {
    expect(bucketsAt(T, 8)).toEqual({ date: '2026-11-26', month: '2026-11', hour: '2026-11-26:19' });
    expect(epochMinute(T)).toBe(29928232);
    expect(nowBuckets(frozenClock(T, 8)).hour).toBe('2026-11-26:19');
  });

  it('offset 0 means +8 (legacy `|| 8`); negative offsets work; day/month roll over in the zone', () => {
    expect(dateString(Date.parse('2026-12-31T16:30:00Z'), 0)).toBe('2027-01-01');
    expect(monthString(Date.parse('2026-12-31T16:30:00Z'), 8)).toBe('2027-01');
    expect(hourString(Date.parse('2026-03-01T02:00:00Z'), -5)).toBe('2026-02-28:21');
  });

  it('week string is the legacy NOT-ISO arithmetic (calendar year of the zone instant)', () => {
    expect(weekString(Date.parse('2025-12-29T04:00:00Z'), 8)).toBe('2025-W01'); // ISO would say 2026-W01
    expect(weekString(T, 8)).toBe('2026-W48');
  });
});

describe('key names', () => {
  it('builds the recorded patterns', () => {
    expect(keys.usageKeyModelDaily('k', 'claude-sonnet-4-5-20250929', '2026-11-26')).toBe('usage:k:model:daily:claude-sonnet-4-5-20250929:2026-11-26');
    expect(keys.accountUsageModelHourly('a', 'm', '2026-11-26:19')).toBe('account_usage:model:hourly:a:m:2026-11-26:19');
    expect(keys.account('claude', 'x')).toBe('claude:account:x');
    expect(keys.account('azure-openai', 'x')).toBe('azure_openai:account:x');
    expect(keys.sharedAccounts('claude')).toBeNull();
    expect(keys.concurrencyConsoleAccount('a')).toBe('concurrency:console_account:a');
  });

  it('normalizes model names like _normalizeModelName', () => {
    expect(normalizeModelName('us.anthropic.claude-sonnet-4-20250514-v1:0')).toBe('claude-sonnet-4-20250514');
    expect(normalizeModelName('llama3:latest')).toBe('llama3');
    expect(normalizeModelName('claude-sonnet-4-20250514[1m]')).toBe('claude-sonnet-4-20250514[1m]');
    expect(normalizeModelName('unknown')).toBe('unknown');
  });

  it('encodes values like the legacy client', () => {
    expect([null, undefined, true, false, 0.1 + 0.2, 1e21, [], ['a', 'b'], { a: 1 }].map(encodeValue)).toEqual([
      '',
      '',
      'true',
      'false',
      '0.30000000000000004',
      '1e+21',
      '',
      'a,b',
      '[object Object]',
    ]);
    expect(hsetArgs({ b: 1, a: null })).toEqual(['b', '1', 'a', '']);
  });
});
