import type { MigratedDeps } from '../../migrated/runtime/deps.js';
import type { Side } from '../routing/schema.js';

/**
 * The shadow tee's output. For a route in `shadow` mode the primary side serves the client as if no
 * shadow existed; for a sampled request (`sampleRate`), with room under `maxInFlight` and a body no larger
 * than `maxBodyBytes`, the gateway hands one TeeExchange to the ShadowSink. Requests that are not sampled
 * or do not fit are dropped and counted (`gateway_shadow_dropped_total{reason}`), never delayed.
 *
 * Timing: `onExchange` is called once the request body has been fully read by the primary (so
 * `request.body` is complete); the primary's response may still be streaming (`primaryResponse`).
 * The in-flight slot is held until the promise returned by `onExchange` settles (or, when it returns
 * nothing, until `primaryResponse` settles). Errors thrown by the sink are caught and counted.
 */

/** The copy of the client request, as the primary received it. */
export interface TeeRequest {
  method: string;
  /** Path and query exactly as the client sent them. */
  url: string;
  httpVersion: string;
  /** Header names and values in client order and casing: [name, value, name, value, ...]. */
  rawHeaders: string[];
  body: Buffer;
  /**
   * Client address as the legacy derives it: the socket peer, or, when the peer is a trusted proxy
   * (GATEWAY_TRUSTED_PROXIES), the last X-Forwarded-For entry it sent (legacy-bridge/client-address.ts).
   */
  clientIp: string;
  /**
   * The peer was a trusted proxy: X-Real-IP / X-Forwarded-* in `rawHeaders` go to either side as sent.
   * Absent or false: they are set from `clientIp` as nginx would.
   */
  trustedPeer?: boolean;
  /** Epoch ms when the gateway received the request head. */
  receivedAt: number;
}

/** A response as it went (primary) or would have gone (candidate) to the client. */
export interface CapturedResponse {
  status: number;
  /** Header names and values in wire order and casing, including Node-added ones (Date, Connection...). */
  rawHeaders: string[];
  /** Whole body (de-chunked), up to `maxBodyBytes` of the route; see `truncated`. */
  body: Buffer;
  /** The body as written, chunk by chunk, with the ms offset from the response head (SSE event timing). */
  chunks: Array<{ atMs: number; data: Buffer }>;
  /** True when the body was longer than the capture limit (body/chunks hold the first bytes). */
  truncated: boolean;
  /** ms from request start to response head / to end. */
  ttfbMs: number;
  durationMs: number;
  /** Set when the response did not complete (client abort, upstream error, module throw...). */
  error?: string;
}

export interface RunCandidateOptions {
  /** Deps for a migrated candidate (e.g. a sandbox Redis); merged over the gateway's deps. Ignored for legacy. */
  deps?: Partial<MigratedDeps>;
  /** Aborts the candidate request. */
  signal?: AbortSignal;
  /** Replace the request sent to the candidate (e.g. rewritten headers); defaults to `exchange.request`. */
  request?: TeeRequest;
}

export interface TeeExchange {
  /** Gateway-local id of this exchange (for logs / reports). */
  id: string;
  routeId: string;
  /** Migrated module name of the route. */
  module: string;
  params: Record<string, string>;
  primary: Side;
  candidate: Side;
  request: TeeRequest;
  /** Resolves when the primary response has ended (or failed; then `error` is set). Never rejects. */
  primaryResponse: Promise<CapturedResponse>;
  /**
   * Send the request copy to the candidate side and capture its response. Legacy candidate: an HTTP request
   * to LEGACY_URL. Migrated candidate: the module runs in-process on its own loopback server with the
   * gateway's deps (overridable). Never rejects: failures come back with `error` set and status 0.
   */
  runCandidate(opts?: RunCandidateOptions): Promise<CapturedResponse>;
}

export interface ShadowSink {
  onExchange(exchange: TeeExchange): void | Promise<void>;
  close?(): Promise<void>;
}

/** Default sink: run the candidate, discard its response (counted by the gateway). */
export const discardingSink: ShadowSink = {
  async onExchange(x) {
    await x.runCandidate();
  },
};
