import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { LegacyBridge } from '../../legacy-bridge/bridge.js';
import { resolveClientAddress, type TrustedProxies } from '../../legacy-bridge/client-address.js';
import { applyForwardedHeaders } from '../../legacy-bridge/forwarded-headers.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { createRequestRecorder } from '../observability/request-log.js';
import { canarySide, stickyKey } from '../routing/canary.js';
import type { LiveTable } from '../routing/live-table.js';
import { shadowOptionsOf, type RouteMode, type Side } from '../routing/schema.js';
import type { MigratedRunner } from './migrated-runner.js';
import { probeResponse, type ResponseProbe } from './response-probe.js';
import type { ShadowTee } from './shadow-tee.js';

/**
 * The data port's request handler: match the route on the live table snapshot taken at the start of
 * the request, pick the serving side, serve, then log and count. Adds no header of its own unless
 * `debugHeaders` (then `X-Gateway-Route` / `X-Gateway-Side` are appended to the response head).
 */

export interface DataHandlerDeps {
  live: LiveTable;
  bridge: LegacyBridge;
  runner: MigratedRunner;
  tee: ShadowTee;
  metrics: GatewayMetrics;
  log: Logger;
  debugHeaders: boolean;
  /** Peers whose X-Forwarded-* are passed on and name the client (GATEWAY_TRUSTED_PROXIES). */
  trustedProxies: TrustedProxies;
  /** Responses captured for shadow copies are kept up to this many bytes. */
  captureBytes: number;
}

export const DEFAULT_ROUTE_ID = '(default)';

/**
 * One request's state, read by the shared 'close' listener (no closure per request). On the legacy path it is
 * also the probe, filled by the bridge (head time, body bytes) instead of wrapping the response's methods.
 */
class Exchange implements ResponseProbe {
  headAt = 0;
  bytes = 0;
  probe: ResponseProbe = this;
  constructor(
    readonly startedAt: number,
    readonly req: IncomingMessage,
    readonly routeId: string,
    readonly mode: RouteMode,
    readonly side: Side,
  ) {}
}

const kExchange = Symbol('gateway.exchange');
type TrackedResponse = ServerResponse & { [kExchange]?: Exchange };

export function createDataHandler(d: DataHandlerDeps) {
  const recordRequest = createRequestRecorder(d.log, d.metrics);
  function onClose(this: TrackedResponse): void {
    const x = this[kExchange]!;
    recordRequest(x.req, this.headersSent ? this.statusCode : 0, x.routeId, x.mode, x.side, x.probe, !this.writableFinished);
  }

  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const table = d.live.current;
    const m = table.match(req.method ?? 'GET', req.url ?? '/');
    const route = m?.route;
    const mode: RouteMode = route?.mode ?? 'legacy';
    const routeId = route?.id ?? DEFAULT_ROUTE_ID;
    // One client address for everything: what the legacy gets, the canary bucket, the module's ctx.clientIp.
    const client = resolveClientAddress(req, d.trustedProxies);

    let side: Side = 'legacy';
    let probe: ResponseProbe | undefined;
    if (route && route.module) {
      if (mode === 'migrated') side = 'migrated';
      else if (mode === 'canary') side = canarySide(stickyKey(req, client.clientIp), route.canary?.percent ?? 0);
      else if (mode === 'shadow') {
        const opts = shadowOptionsOf(route);
        side = opts.primary;
        d.tee.begin(req, res, route, opts, m.params, client, () => (probe = probeResponse(res, startedAt, { maxBytes: d.captureBytes })));
      }
    }
    // a migrated side's first reads (the relay's key lookup) go out now, before the rest of this handler runs
    if (side === 'migrated') d.runner.prefetch(req, route!.module!);
    const x = new Exchange(startedAt, req, routeId, mode, side);
    // The legacy side reports head time and bytes itself (into `x`); anything else is probed by wrapping the response.
    let meter: Exchange | undefined;
    if (probe) x.probe = probe;
    else if (side === 'legacy') meter = x;
    else x.probe = probeResponse(res, startedAt);

    if (d.debugHeaders) {
      const orig = res.writeHead;
      res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
        const last = rest[rest.length - 1];
        if (Array.isArray(last)) last.push('X-Gateway-Route', routeId, 'X-Gateway-Side', side);
        else {
          this.setHeader('X-Gateway-Route', routeId);
          this.setHeader('X-Gateway-Side', side);
        }
        return (orig as (...a: unknown[]) => ServerResponse).call(this, status, ...rest);
      } as typeof res.writeHead;
    }

    (res as TrackedResponse)[kExchange] = x;
    res.on('close', onClose);

    if (side === 'legacy') {
      d.bridge.forward(req, res, client, meter);
      return;
    }
    if (!client.trustedPeer) applyForwardedHeaders(req, client.clientIp, client.encrypted);
    d.runner.serve(req, res, { routeId, module: route!.module!, params: m!.params, clientIp: client.clientIp }).catch(() => {
      d.metrics.errors.inc({ route: routeId, mode, side, kind: 'module_error' });
    });
  };
}
