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
