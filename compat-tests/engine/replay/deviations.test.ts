import { describe, expect, it } from 'vitest';
import type { Difference } from '../report/model.js';
import { isUtf8Replacement, splitDeviations, type AcceptedDeviation } from './deviations.js';

const textDiff = (expected: string, actual: string): Difference => ({
  area: 'response',
  where: 'response.body#event[3]$.delta.text',
  path: 'response.body#event[3]$.delta.text',
  kind: 'changed',
  expected,
  actual,
});

describe('upstream-kept-alive', () => {
  it('accepts only close (legacy) against keep-alive (ours) on the upstream Connection header', () => {
    const rules: AcceptedDeviation[] = [{ exchange: '*', path: 'upstream[*].header.connection', when: 'upstream-kept-alive', why: 'pool' }];
    const diff = (expected: string, actual: string): Difference => ({ area: 'upstream', where: 'x', path: 'upstream[0].header.connection', kind: 'changed', expected, actual });
    const r = splitDeviations('shadow/claude-messages', [diff('close', 'keep-alive'), diff('keep-alive', 'close'), diff('Upgrade', 'keep-alive')], rules);
    expect(r.deviations).toHaveLength(1);
    expect(r.unexpected.map((d) => d.expected)).toEqual(['keep-alive', 'Upgrade']);
  });
});

describe('legacy-utf8-replacement', () => {
  it('accepts a split character the legacy turned into U+FFFD, and nothing else', () => {
    expect(isUtf8Replacement(' \uFFFD\uFFFD\uFFFD好，世界', ' 你好，世界')).toBe(true);
    expect(isUtf8Replacement(' \uFFFD\uFFFD\uFFFD👍', ' 🙂👍')).toBe(true); // a 4-byte character (2 UTF-16 units)
    expect(isUtf8Replacement('a\uFFFDb\uFFFD\uFFFDc', 'aéb€c')).toBe(true);
    expect(isUtf8Replacement(' \uFFFD\uFFFD好，世界', ' 你好，世间')).toBe(false); // another change besides
    expect(isUtf8Replacement(' \uFFFD好', ' x好')).toBe(false); // an ASCII character is never split
    expect(isUtf8Replacement(' 你好', ' 你好!')).toBe(false); // no U+FFFD on the legacy side
    expect(isUtf8Replacement('\uFFFD', '\uFFFD')).toBe(false);
    expect(isUtf8Replacement('(\uFFFD)', '(你)')).toBe(true); // regex characters of the text are literal
    expect(isUtf8Replacement('.\uFFFD', 'x你')).toBe(false);
  });

  it('a deviation with the condition applies to any exchange (live shadow too) only when the values satisfy it', () => {
    const rules: AcceptedDeviation[] = [{ exchange: '*', path: 'response.body#event[*]$.delta.text', when: 'legacy-utf8-replacement', why: 'split' }];
    const good = textDiff(' \uFFFD\uFFFD\uFFFD好', ' 你好');
    const bad = textDiff(' hello', ' world');
    const r = splitDeviations('shadow/claude-messages', [good, bad], rules);
    expect(r.deviations.map((d) => d.actual)).toEqual([' 你好']);
    expect(r.deviations[0]!.acceptedBecause).toBe('split');
    expect(r.unexpected).toEqual([bad]);
  });
});
