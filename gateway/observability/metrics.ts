/**
 * A small Prometheus text-format registry: counters and histograms with labels.
 * One registry per gateway instance (no global state); others may register their own series
 * through `counter()` / `histogram()` (e.g. the shadow comparison).
 */

type Labels = Record<string, string | number>;

const NEEDS_ESCAPE = /["\\\n]/;
const escapeValue = (v: string) => (NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

/** `a="1",b="2"` with names sorted (label objects are small; this runs a few times per request). */
export function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  if (keys.length > 1) keys.sort();
  let out = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += `${i ? ',' : ''}${k}="${escapeValue(String(labels[k]))}"`;
  }
  return out;
}

export interface Counter {
  inc(labels?: Labels, by?: number): void;
  /** inc() with a key made by labelKey() once (hot paths). */
  incKey(key: string, by?: number): void;
  get(labels?: Labels): number;
  total(): number;
}

export interface Histogram {
  observe(labels: Labels, value: number): void;
  /** observe() with a key made by labelKey() once (hot paths). */
  observeKey(key: string, value: number): void;
  count(labels?: Labels): number;
}

interface Series {
  name: string;
  help: string;
  type: 'counter' | 'histogram' | 'gauge';
  render(): string[];
}

export const DEFAULT_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export class MetricsRegistry {
  private readonly series = new Map<string, Series & { impl: unknown }>();

  counter(name: string, help: string): Counter {
    const existing = this.series.get(name);
    if (existing) return existing.impl as Counter;
    const values = new Map<string, number>();
    const impl: Counter = {
      inc(labels = {}, by = 1) {
        const k = labelKey(labels);
        values.set(k, (values.get(k) ?? 0) + by);
      },
      incKey(k, by = 1) {
        values.set(k, (values.get(k) ?? 0) + by);
      },
      get(labels = {}) {
        return values.get(labelKey(labels)) ?? 0;
      },
      total() {
        let t = 0;
        for (const n of values.values()) t += n;
        return t;
      },
    };
    this.series.set(name, {
      name,
      help,
      type: 'counter',
      impl,
      render: () => [...values].map(([k, n]) => `${name}${k ? `{${k}}` : ''} ${n}`),
    });
    return impl;
  }

  gauge(name: string, help: string, read: () => Array<[Labels, number]>): void {
    this.series.set(name, {
      name,
      help,
      type: 'gauge',
      impl: null,
      render: () => read().map(([l, n]) => `${name}${labelKey(l) ? `{${labelKey(l)}}` : ''} ${n}`),
    });
  }

  histogram(name: string, help: string, buckets: number[] = DEFAULT_SECONDS_BUCKETS): Histogram {
    const existing = this.series.get(name);
    if (existing) return existing.impl as Histogram;
    const data = new Map<string, { counts: number[]; sum: number; count: number }>();
    const impl: Histogram = {
      observe(labels, value) {
        impl.observeKey(labelKey(labels), value);
      },
      observeKey(k, value) {
        let d = data.get(k);
        if (!d) data.set(k, (d = { counts: new Array<number>(buckets.length).fill(0), sum: 0, count: 0 }));
        // One increment in the first bucket that holds the value (none above the last: +Inf is the count);
        // the cumulative `le` counts are summed when rendered.
        let i = 0;
        while (i < buckets.length && !(value <= buckets[i]!)) i++;
        if (i < buckets.length) d.counts[i]!++;
        d.sum += value;
        d.count++;
      },
      count(labels) {
        if (!labels) {
          let c = 0;
          for (const d of data.values()) c += d.count;
          return c;
        }
        return data.get(labelKey(labels))?.count ?? 0;
      },
    };
    this.series.set(name, {
      name,
      help,
      type: 'histogram',
      impl,
      render: () => {
        const lines: string[] = [];
        for (const [k, d] of data) {
          const sep = k ? `${k},` : '';
          let cumulative = 0;
          buckets.forEach((b, i) => lines.push(`${name}_bucket{${sep}le="${b}"} ${(cumulative += d.counts[i]!)}`));
          lines.push(`${name}_bucket{${sep}le="+Inf"} ${d.count}`);
          lines.push(`${name}_sum${k ? `{${k}}` : ''} ${d.sum}`);
          lines.push(`${name}_count${k ? `{${k}}` : ''} ${d.count}`);
        }
        return lines;
      },
    });
    return impl;
  }

  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    const out: string[] = [];
    for (const s of this.series.values()) {
      out.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`, ...s.render());
    }
    return out.join('\n') + '\n';
  }
}

/** The gateway's own series. */
export function gatewayMetrics(registry = new MetricsRegistry()) {
  return {
    registry,
    requests: registry.counter('gateway_requests_total', 'Requests by route, mode, serving side and status class'),
    errors: registry.counter('gateway_request_errors_total', 'Requests that failed in the gateway (legacy unreachable, timeout, module error, client abort)'),
    duration: registry.histogram('gateway_request_duration_seconds', 'Request duration by route, mode and side'),
    ttfb: registry.histogram('gateway_ttfb_seconds', 'Time to response head by route, mode and side'),
    reloads: registry.counter('gateway_table_reloads_total', 'Routing tables applied'),
    reloadErrors: registry.counter('gateway_table_reload_errors_total', 'Routing tables rejected (the last good one stays)'),
    shadowTeed: registry.counter('gateway_shadow_exchanges_total', 'Shadow copies handed to the sink'),
    shadowDropped: registry.counter('gateway_shadow_dropped_total', 'Shadow copies not made, by reason'),
    shadowCandidate: registry.counter('gateway_shadow_candidate_total', 'Candidate runs by outcome'),
    shadowSinkErrors: registry.counter('gateway_shadow_sink_errors_total', 'Errors thrown by the shadow sink'),
  };
}

export type GatewayMetrics = ReturnType<typeof gatewayMetrics>;
