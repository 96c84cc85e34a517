import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ClientAddress } from '../../legacy-bridge/client-address.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Route, ShadowOptions, Side } from '../routing/schema.js';
import type { CandidateRunner } from './candidate.js';
import type { ResponseProbe } from './response-probe.js';
import type { CapturedResponse, ShadowSink, TeeExchange, TeeRequest } from './shadow-sink.js';

/**
 * The shadow tee: decides whether a request in shadow mode gets a copy (sampling, in-flight bound,
 * body size bound), copies the request body as the primary reads it (observing `data` events without
 * changing the stream's flow), and hands a TeeExchange to the sink once the body is complete.
 * Nothing here can delay or alter the primary: every failure drops the copy and is counted.
 */

export interface ShadowTee {
  /** Returns whether a copy is being made (the caller then probes the response with capture). */
  begin(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    opts: ShadowOptions,
    params: Record<string, string>,
    client: ClientAddress,
    probe: () => ResponseProbe,
  ): boolean;
  inFlight(routeId: string): number;
}

export interface ShadowTeeDeps {
  sink: ShadowSink;
  candidates: CandidateRunner;
  metrics: GatewayMetrics;
  log: Logger;
  random: () => number;
  now: () => number;
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function createShadowTee(d: ShadowTeeDeps): ShadowTee {
  const inFlight = new Map<string, number>();
  let seq = 0;
  const drop = (routeId: string, reason: string) => d.metrics.shadowDropped.inc({ route: routeId, reason });

  return {
    inFlight: (id) => inFlight.get(id) ?? 0,
    begin(req, res, route, opts, params, client, makeProbe) {
      const routeId = route.id;
      if (opts.sampleRate <= 0 || (opts.sampleRate < 1 && d.random() >= opts.sampleRate)) {
        drop(routeId, 'not_sampled');
        return false;
      }
      if ((inFlight.get(routeId) ?? 0) >= opts.maxInFlight) {
        drop(routeId, 'max_in_flight');
        return false;
      }
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > opts.maxBodyBytes) {
        drop(routeId, 'body_too_large');
        return false;
      }
      inFlight.set(routeId, (inFlight.get(routeId) ?? 0) + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        inFlight.set(routeId, (inFlight.get(routeId) ?? 1) - 1);
      };

      const primary: Side = opts.primary;
      const candidate: Side = primary === 'legacy' ? 'migrated' : 'legacy';
      const receivedAt = d.now();
      // The client's headers as sent (a migrated primary later gets the forwarded headers added in place).
      const rawHeaders = [...req.rawHeaders];
      const body: Buffer[] = [];
      let size = 0;
      let state: 'copying' | 'abandoned' | 'delivered' = 'copying';
      const probe = makeProbe();
      const primaryResponse: Promise<CapturedResponse> = probe.captured!;

      const origEmit = req.emit;
      const restore = () => {
        if (req.emit !== origEmit) req.emit = origEmit;
      };
      const deliver = () => {
        if (state !== 'copying') return;
        state = 'delivered';
        restore();
        const request: TeeRequest = {
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          httpVersion: req.httpVersion,
          rawHeaders,
          body: Buffer.concat(body, size),
          clientIp: client.clientIp,
          trustedPeer: client.trustedPeer,
          receivedAt,
        };
        const x: TeeExchange = {
          id: `${process.pid}-${++seq}`,
          routeId,
          module: route.module!,
          params,
          primary,
          candidate,
          request,
          primaryResponse,
          runCandidate: async (o) => {
            const out = await d.candidates.run({
              side: candidate,
              module: route.module!,
              routeId,
              params,
              request: o?.request ?? request,
              deps: o?.deps,
              signal: o?.signal,
            });
            d.metrics.shadowCandidate.inc({ route: routeId, side: candidate, outcome: out.error ? 'error' : 'ok' });
            return out;
          },
        };
        d.metrics.shadowTeed.inc({ route: routeId });
        let pending: Promise<unknown>;
        try {
          const r = d.sink.onExchange(x);
          pending = r instanceof Promise ? r : primaryResponse;
        } catch (err) {
          pending = Promise.reject(err);
        }
        pending
          .catch((err: Error) => {
            d.metrics.shadowSinkErrors.inc({ route: routeId });
            d.log.warn({ routeId, err: err?.message }, 'shadow sink failed');
          })
          .finally(release);
      };
      const abandon = (reason: string) => {
        if (state !== 'copying') return;
        state = 'abandoned';
        restore();
        body.length = 0;
        drop(routeId, reason);
        release();
      };

      req.emit = function (this: IncomingMessage, event: string | symbol, ...args: unknown[]) {
        if (state === 'copying') {
          if (event === 'data') {
            const c = args[0] as Buffer | string;
            const buf = typeof c === 'string' ? Buffer.from(c) : c;
            size += buf.length;
            if (size > opts.maxBodyBytes) abandon('body_too_large');
            else body.push(Buffer.from(buf));
          } else if (event === 'end') {
            const result = origEmit.call(this, event, ...args);
            deliver();
            return result;
          } else if (event === 'error' || event === 'aborted') abandon('request_error');
        }
        return origEmit.call(this, event, ...args);
      } as typeof req.emit;

      // The primary may answer without reading the body (e.g. a GET handled by a module): deliver when
      // there was no body; otherwise the copy is incomplete.
      res.once('close', () => {
        if (state !== 'copying') return;
        if (!hasBody(req) || (req.complete && req.readableEnded)) deliver();
        else abandon('incomplete_body');
      });
      return true;
    },
  };
}
