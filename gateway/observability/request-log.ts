import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RouteMode, Side } from '../routing/schema.js';
import type { ResponseProbe } from '../server/response-probe.js';
import { labelKey, type GatewayMetrics } from './metrics.js';

/**
 * One pino line and the metrics for a finished (or aborted) request.
 * Per route/mode/side, everything that does not change between requests is built once: the metric label
 * keys and a child logger carrying `routeId`, `mode`, `side` (pino serializes a child's bindings once), so a
 * request costs the fields that vary and no intermediate objects. The line reads as before:
 * `{...base, "routeId", "mode", "side", "method", "url", "status", "bytes", "durationMs", "ttfbMs"[, "aborted"], "msg":"request"}`.
 */

interface Series {
  labels: string;
  /** Label keys with the status class, by class (0..5, 0 = no response). */
  byStatus: Array<string | undefined>;
  abort: string;
  log: Logger;
  routeId: string;
  mode: RouteMode;
  side: Side;
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

export type RecordRequest = (
  req: IncomingMessage,
  status: number,
  routeId: string,
  mode: RouteMode,
  side: Side,
  probe: ResponseProbe,
  aborted: boolean,
) => void;

export function createRequestRecorder(log: Logger, metrics: GatewayMetrics): RecordRequest {
  // Keyed by route id, then mode + side (a route keeps its id across table reloads; its mode may change).
  const cache = new Map<string, Series[]>();
  const seriesFor = (routeId: string, mode: RouteMode, side: Side): Series => {
    let list = cache.get(routeId);
    if (!list) cache.set(routeId, (list = []));
    for (let i = 0; i < list.length; i++) {
      const k = list[i]!;
      if (k.mode === mode && k.side === side) return k;
    }
    const labels = { route: routeId, mode, side };
    const k: Series = {
      labels: labelKey(labels),
      byStatus: [],
      abort: labelKey({ ...labels, kind: 'client_abort' }),
      log: log.child({ routeId, mode, side }),
      routeId,
      mode,
      side,
    };
    list.push(k);
    return k;
  };

  return function record(req, status, routeId, mode, side, probe, aborted): void {
    const end = performance.now();
    const durationMs = end - probe.startedAt;
    const headAt = probe.headAt;
    const k = seriesFor(routeId, mode, side);
    const cls = Math.floor(status / 100);
    const statusKey = k.byStatus[cls] ?? (k.byStatus[cls] = labelKey({ route: routeId, mode, side, status: `${cls}xx` }));
    metrics.requests.incKey(statusKey);
    metrics.duration.observeKey(k.labels, durationMs / 1000);
    if (headAt) metrics.ttfb.observeKey(k.labels, (headAt - probe.startedAt) / 1000);
    if (aborted) metrics.errors.incKey(k.abort);
    const l = k.log;
    if (!l.isLevelEnabled('info')) return;
    const ttfbMs = headAt ? round3(headAt - probe.startedAt) : null;
    if (aborted) {
      l.info({ method: req.method, url: req.url, status, bytes: probe.bytes, durationMs: round3(durationMs), ttfbMs, aborted: true }, 'request');
    } else {
      l.info({ method: req.method, url: req.url, status, bytes: probe.bytes, durationMs: round3(durationMs), ttfbMs }, 'request');
    }
  };
}
