import { describe, expect, it } from 'vitest';
import { differenceLabel, groupDifferences, outcomes, routeDeltas, scenarioOf, type RecordHead, type RouteCounts } from './report.js';
import { buildRequests, type DrillKeys } from './scenarios.js';

const counts = (routeId: string, n: number, extra: Partial<RouteCounts> = {}): RouteCounts => ({
  routeId,
  compared: n,
  identical: n,
  differing: 0,
  errors: 0,
  dropped: 0,
  sideEffects: { identical: n, differing: 0, notMeasured: 0 },
  notMeasuredReasons: {},
  upstreamNotAvailable: 0,
  acceptedDeviations: 0,
  ...extra,
});

const head = (id: string, routeId: string, paths: string[]): RecordHead => ({
  id,
  routeId,
  at: 0,
  verdict: 'differing',
  firstDivergence: paths[0] ?? null,
  differences: paths.map((path) => ({ area: 'response', where: path, path, kind: 'changed' })),
  sideEffects: { status: 'identical' },
  upstream: { primaryCalls: 1, notAvailable: 0 },
});

const KEYS: DrillKeys = { console: 'cr_c', oauth: 'cr_o', pool: 'cr_p', mapped: 'cr_m', adminToken: 't', consoleAccountId: 'ca', oauthAccountId: 'oa' };

describe('live drill report', () => {
  it('reports this run only: deltas of the cumulative counters, side effects and not-measured reasons included', () => {
    const before = [counts('claude-messages', 10, { notMeasuredReasons: { overlap: 2 }, sideEffects: { identical: 8, differing: 0, notMeasured: 2 } })];
    const after = [
      counts('claude-messages', 25, { identical: 24, differing: 1, notMeasuredReasons: { overlap: 5, 'no tap': 1 }, sideEffects: { identical: 19, differing: 0, notMeasured: 6 } }),
      counts('openai-claude-chat', 4),
    ];
    const deltas = routeDeltas(before, after, ['claude-messages', 'openai-claude-chat', 'claude-count-tokens']);
    expect(deltas.map((d) => d.routeId)).toEqual(['claude-messages', 'openai-claude-chat']);
    expect(deltas[0]).toMatchObject({ compared: 15, identical: 14, differing: 1, sideEffects: { identical: 11, differing: 0, notMeasured: 4 }, notMeasuredReasons: { overlap: 3, 'no tap': 1 } });
    expect(deltas[1]).toMatchObject({ compared: 4, identical: 4 });
  });

  it('counts compared + errors + dropped of the shadowed routes only', () => {
    expect(outcomes([counts('claude-messages', 3, { errors: 1, dropped: 2 }), counts('models', 50)], ['claude-messages'])).toBe(6);
  });

  it('finds the scenario of a request body by its marker, also in raw (broken) bodies', () => {
    const reqs = buildRequests(KEYS, 7, ['core', 'errors', 'probe']);
    for (const r of reqs) expect(scenarioOf(r.body)).toBe(r.scenario);
    const broken = reqs.find((r) => r.scenario === 'broken-json-400')!.body;
    expect(() => JSON.parse(broken)).toThrow();
    expect(scenarioOf('{"messages":[]}')).toBeNull();
  });

  it('builds each key kind and auth style as the scenario says', () => {
    const reqs = buildRequests(KEYS, 1, ['core']);
    const by = (name: string) => reqs.find((r) => r.scenario === name)!;
    expect(by('console-json').headers['x-api-key']).toBe('cr_c');
    expect(by('cc-oauth-bearer-claude-mount').headers['authorization']).toBe('Bearer cr_o');
    expect(by('cc-oauth-bearer-claude-mount').path).toBe('/claude/v1/messages');
    expect(by('missing-key-401').headers['x-api-key']).toBeUndefined();
    expect(by('count-console').path).toBe('/api/v1/messages/count_tokens');
    expect(reqs.some((r) => r.group !== 'core')).toBe(false);
  });

  it('groups differing records by scenario and by their (id-folded) set of differences', () => {
    const groups = groupDifferences([
      { scenario: 'openai-oauth-json', head: head('a', 'openai-claude-chat', ['response.body$.id']) },
      { scenario: 'openai-oauth-json', head: head('b', 'openai-claude-chat', ['response.body$.id']) },
      { scenario: 'console-json', head: head('c', 'claude-messages', ['redis:apikey:0a1b2c3d-0000-4000-8000-000000000001#lastUsedAt']) },
    ]);
    expect(groups.map((g) => [g.scenario, g.count])).toEqual([
      ['console-json', 1],
      ['openai-oauth-json', 2],
    ]);
    expect(groups[0]!.labels).toEqual(['changed redis:apikey:<id>#lastUsedAt']);
    expect(differenceLabel({ area: 'redis', where: '', path: 'redis:usage:daily:1795707257629', kind: 'extra' })).toBe('extra redis:usage:daily:<n>');
  });
});
