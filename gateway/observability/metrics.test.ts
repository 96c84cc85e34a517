import { describe, expect, it } from 'vitest';
import { MetricsRegistry, labelKey } from './metrics.js';

describe('MetricsRegistry', () => {
  it('renders counters and histograms in Prometheus text with sorted, escaped labels', () => {
    const r = new MetricsRegistry();
    const c = r.counter('x_total', 'help x');
    c.inc({ route: 'a"b', mode: 'legacy' });
    c.inc({ mode: 'legacy', route: 'a"b' }, 2);
    const h = r.histogram('lat_seconds', 'help lat', [0.1, 1]);
    h.observe({ route: 'r' }, 0.5);
    h.observe({ route: 'r' }, 0.05);
    expect(c.get({ route: 'a"b', mode: 'legacy' })).toBe(3);
    expect(r.render()).toBe(
      [
        '# HELP x_total help x',
        '# TYPE x_total counter',
        'x_total{mode="legacy",route="a\\"b"} 3',
        '# HELP lat_seconds help lat',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{route="r",le="0.1"} 1',
        'lat_seconds_bucket{route="r",le="1"} 2',
        'lat_seconds_bucket{route="r",le="+Inf"} 2',
        'lat_seconds_sum{route="r"} 0.55',
        'lat_seconds_count{route="r"} 2',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslashes and newlines in label values', () => {
    expect(labelKey({ b: 'x\\y', a: 'l1\nl2' })).toBe('a="l1\\nl2",b="x\\\\y"');
  });
});

describe('mergeExpositions', () => {
  it('sums samples of the same series across processes and keeps HELP/TYPE once', async () => {
    const { mergeExpositions } = await import('./merge-exposition.js');
    const a = new MetricsRegistry();
    const b = new MetricsRegistry();
    for (const [r, n] of [[a, 2], [b, 3]] as const) {
      r.counter('req_total', 'requests').inc({ route: 'x' }, n);
      r.histogram('lat_seconds', 'latency', [1]).observe({ route: 'x' }, 0.5);
    }
    b.counter('req_total', 'requests').inc({ route: 'y' });
    const merged = mergeExpositions([a.render(), b.render()]);
    expect(merged).toBe(
      [
        '# HELP req_total requests',
        '# TYPE req_total counter',
        'req_total{route="x"} 5',
        'req_total{route="y"} 1',
        '# HELP lat_seconds latency',
        '# TYPE lat_seconds histogram',
        'lat_seconds_bucket{route="x",le="1"} 2',
        'lat_seconds_bucket{route="x",le="+Inf"} 2',
        'lat_seconds_sum{route="x"} 1',
        'lat_seconds_count{route="x"} 2',
        '',
      ].join('\n'),
    );
  });
});
