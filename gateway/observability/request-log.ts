import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { RouteMode, Side } from '../routing/schema.js';
import type { GatewayMetrics } from './metrics.js';
import type { ResponseProbe } from '../server/response-probe.js';

/** One pino line and the metrics for a finished (or aborted) request. */
export function recordRequest(
  log: Logger,
  metrics: GatewayMetrics,
  req: IncomingMessage,
  status: number,
  info: { routeId: string; mode: RouteMode; side: Side; probe: ResponseProbe; aborted: boolean },
): void {
  const end = performance.now();
  const durationMs = end - info.probe.startedAt;
  const ttfbMs = info.probe.headAt ? info.probe.headAt - info.probe.startedAt : null;
  const labels = { route: info.routeId, mode: info.mode, side: info.side };
  metrics.requests.inc({ ...labels, status: `${Math.floor(status / 100)}xx` });
  metrics.duration.observe(labels, durationMs / 1000);
  if (ttfbMs !== null) metrics.ttfb.observe(labels, ttfbMs / 1000);
  if (info.aborted) metrics.errors.inc({ ...labels, kind: 'client_abort' });
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
}
