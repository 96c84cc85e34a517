import { describe, expect, it } from 'vitest';
import { exchangeLine, routeTable, totalsLine } from './console.js';
import { renderHtml } from './html.js';
import { blankResult, summarize, tallyIgnored, type ExchangeResult, type RunReport } from './model.js';

const ex = (name: string) => ({ name, request: { method: 'POST', path: '/api/v1/messages' } });
const route = { routeId: 'claude-messages', module: 'claude-messages' };

function results(): ExchangeResult[] {
  const same = blankResult('s', ex('01-same'), route, 'identical');
  tallyIgnored(same.ignored, 'variable:uuid', 36);
  const diff: ExchangeResult = {
    ...blankResult('s', ex('02-diff'), route, 'differs'),
    differences: [{ area: 'response', where: 'response.body#event[3]$.delta.text', path: 'response.body#event[3]$.delta.text', kind: 'changed', expected: ' mock', actual: ' M<ck', byteOffset: 5, detail: ['SSE event #3 (content_block_delta)'] }],
    sideBySide: { expected: 'data: ü mock', actual: 'data: ü M<ck', firstDivergence: 9 },
  };
  const dev: ExchangeResult = {
    ...blankResult('s', ex('03-dev'), route, 'deviation'),
    deviations: [{ area: 'response', where: 'response.body', path: 'response.body', kind: 'changed', acceptedBecause: 'legacy bug fixed' }],
  };
  return [same, diff, dev, blankResult('s', { name: '04-admin', request: { method: 'GET', path: '/admin' } }, { routeId: 'admin', module: null }, 'not-migrated', 'route names no module')];
}

describe('reports', () => {
  it('one line per exchange, with the first differences, deviations and the noise tally', () => {
    const [same, diff, dev, nm] = results();
    expect(exchangeLine(same!)).toMatch(/^identical +s\/01-same .* \(ignored 1 values \/ 36 B as noise\)$/);
    expect(exchangeLine(diff!)).toContain('changed response.body#event[3]$.delta.text @byte 5: expected " mock" got " M<ck"');
    expect(exchangeLine(dev!)).toContain('why: legacy bug fixed');
    expect(exchangeLine(nm!)).toContain('not migrated  s/04-admin  GET /admin  route=admin — route names no module');
  });

  it('per-route table and totals; failure only on unexpected differences', () => {
    const r = results();
    const table = routeTable(r).split('\n');
    expect(table[0]).toMatch(/^route +exchanges +identical +differing +deviation +not migrated +errors$/);
    expect(table.find((l) => l.startsWith('claude-messages'))!.split(/ +/)).toEqual(['claude-messages', '3', '1', '1', '1', '0', '0']);
    const s = summarize(r);
    expect(s.failed).toBe(true);
    expect(summarize(r.filter((x) => x.outcome !== 'differs')).failed).toBe(false);
    const report: RunReport = { startedAt: 'now', durationMs: 1200, routing: 't', results: r, ...s };
    expect(totalsLine(report)).toBe('4 exchanges: 1 identical, 1 differing, 1 accepted deviation, 1 not migrated, 0 errors — FAIL (1.2 s)');
  });

  it('self-contained HTML: escaped values, first divergence highlighted at the byte offset', () => {
    const r = results();
    const html = renderHtml({ startedAt: 'now', durationMs: 1, routing: 't', results: r, ...summarize(r) });
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html).toContain(' M&lt;ck');
    // byte 9 of "data: ü M<ck" is "M" (ü is two bytes)
    expect(html).toContain('data: ü <mark class="first">M&lt;ck</mark>');
    expect(html).toContain('data: ü <mark class="first">mock</mark>');
    expect(html).toContain('accepted: legacy bug fixed');
  });
});
