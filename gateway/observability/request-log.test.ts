import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { gatewayMetrics } from './metrics.js';
import { createRequestRecorder } from './request-log.js';

const req = (method: string, url: string) => ({ method, url }) as IncomingMessage;

function recorder() {
  const lines: string[] = [];
  const log = pino({ level: 'info', base: { svc: 'gateway' }, timestamp: () => ',"time":0' }, { write: (s: string) => void lines.push(s) });
  const metrics = gatewayMetrics();
  return { lines, metrics, record: createRequestRecorder(log, metrics) };
}

describe('request log and metrics for one request', () => {
  it('writes one line per request with the fields in order, and counts by route, mode, side, status class', () => {
    const { lines, metrics, record } = recorder();
    record(req('GET', '/api/v1/models'), 200, 'models', 'migrated', 'migrated', { startedAt: performance.now() - 2, headAt: performance.now() - 1, bytes: 42 }, false);
    record(req('POST', '/x?"q"'), 0, '(default)', 'legacy', 'legacy', { startedAt: performance.now() - 5, headAt: 0, bytes: 0 }, true);
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(first)).toEqual(['level', 'time', 'svc', 'routeId', 'mode', 'side', 'method', 'url', 'status', 'bytes', 'durationMs', 'ttfbMs', 'msg']);
    expect(first).toMatchObject({ routeId: 'models', mode: 'migrated', side: 'migrated', method: 'GET', status: 200, bytes: 42, msg: 'request' });
    expect(first.durationMs as number).toBeGreaterThan(first.ttfbMs as number);
    const second = JSON.parse(lines[1]!) as Record<string, unknown>;
    expect(Object.keys(second).slice(-3)).toEqual(['ttfbMs', 'aborted', 'msg']);
    expect(second).toMatchObject({ routeId: '(default)', url: '/x?"q"', status: 0, ttfbMs: null, aborted: true });

    expect(metrics.requests.get({ route: 'models', mode: 'migrated', side: 'migrated', status: '2xx' })).toBe(1);
    expect(metrics.requests.get({ route: '(default)', mode: 'legacy', side: 'legacy', status: '0xx' })).toBe(1);
    expect(metrics.errors.get({ route: '(default)', mode: 'legacy', side: 'legacy', kind: 'client_abort' })).toBe(1);
    expect(metrics.duration.count()).toBe(2);
    expect(metrics.ttfb.count()).toBe(1);
  });

  it('keeps series apart when a route changes mode (same id)', () => {
    const { lines, metrics, record } = recorder();
    const probe = () => ({ startedAt: performance.now(), headAt: 0, bytes: 0 });
    record(req('GET', '/a'), 200, 'r', 'legacy', 'legacy', probe(), false);
    record(req('GET', '/a'), 200, 'r', 'canary', 'migrated', probe(), false);
    record(req('GET', '/a'), 200, 'r', 'canary', 'legacy', probe(), false);
    expect(lines.map((l) => (JSON.parse(l) as { mode: string; side: string }).mode + '/' + (JSON.parse(l) as { side: string }).side)).toEqual([
      'legacy/legacy',
      'canary/migrated',
      'canary/legacy',
    ]);
    expect(metrics.requests.get({ route: 'r', mode: 'canary', side: 'legacy', status: '2xx' })).toBe(1);
    expect(metrics.duration.count({ route: 'r', mode: 'legacy', side: 'legacy' })).toBe(1);
  });

  it('histogram buckets are inclusive upper bounds; values above the last count only in +Inf', () => {
    const { metrics } = recorder();
    const h = metrics.registry.histogram('t_seconds', 't', [0.1, 1]);
    for (const v of [0.1, 1, 5, 0.05]) h.observe({ r: 'x' }, v);
    const text = metrics.registry.render();
    expect(text).toContain('t_seconds_bucket{r="x",le="0.1"} 2');
    expect(text).toContain('t_seconds_bucket{r="x",le="1"} 3');
    expect(text).toContain('t_seconds_bucket{r="x",le="+Inf"} 4');
  });
});
