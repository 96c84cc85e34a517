import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RouteMode, Side } from '../routing/schema.js';
import type { ResponseProbe } from '../server/response-probe.js';
import { labelKey, type GatewayMetrics } from './metrics.js';

/** One pino line and the metrics for a finished (or aborted) request. */
export interface RequestInfo {
  routeId: string;
  mode: RouteMode;
  side: Side;
  probe: ResponseProbe;
  aborted: boolean;
}

interface SeriesKeys {
  labels: string;
  byStatus: Map<number, string>;
  abort: string;
}

export function createRequestRecorder(log: Logger, metrics: GatewayMetrics) {
  // Label keys per route/mode/side are built once, not per request.
  const cache = new Map<string, SeriesKeys>();
  const keysFor = (routeId: string, mode: RouteMode, side: Side): SeriesKeys => {
    const id = `${routeId}\u0000${mode}\u0000${side}`;
    let k = cache.get(id);
    if (!k) {
      const labels = { route: routeId, mode, side };
      k = { labels: labelKey(labels), byStatus: new Map(), abort: labelKey({ ...labels, kind: 'client_abort' }) };
      cache.set(id, k);
    }
    return k;
  };

  return function record(req: IncomingMessage, status: number, info: RequestInfo): void {
    const end = performance.now();
    const durationMs = end - info.probe.startedAt;
    const ttfbMs = info.probe.headAt ? info.probe.headAt - info.probe.startedAt : null;
    const keys = keysFor(info.routeId, info.mode, info.side);
    const cls = Math.floor(status / 100);
    let statusKey = keys.byStatus.get(cls);
    if (!statusKey) {
      statusKey = labelKey({ route: info.routeId, mode: info.mode, side: info.side, status: `${cls}xx` });
      keys.byStatus.set(cls, statusKey);
    }
    metrics.requests.incKey(statusKey);
    metrics.duration.observeKey(keys.labels, durationMs / 1000);
    if (ttfbMs !== null) metrics.ttfb.observeKey(keys.labels, ttfbMs / 1000);
    if (info.aborted) metrics.errors.incKey(keys.abort);
    if (log.isLevelEnabled('info')) {
      log.info(
        {
          routeId: info.routeId,
          mode: info.mode,
          side: info.side,
          method: req.method,
          url: req.url,
          status,
          bytes: info.probe.bytes,
          durationMs: Math.round(durationMs * 1000) / 1000,
          ttfbMs: ttfbMs === null ? null : Math.round(ttfbMs * 1000) / 1000,
          ...(info.aborted ? { aborted: true } : {}),
        },
        'request',
      );
    }
  };
}
