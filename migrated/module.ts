import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MigratedDeps } from './runtime/deps.js';

/**
 * What the gateway knows about a request it hands to a migrated module.
 * The module owns `res` from then on: status, raw header names and order, body bytes.
 */
export interface MigratedRequestContext {
  /** Routing-table route id that matched. */
  routeId: string;
  /** Path parameters captured by the route pattern (e.g. { id: '...' }). */
  params: Record<string, string>;
  /** Aborted when the client goes away before the response ends. */
  signal: AbortSignal;
  /** Client address as the legacy would see it (X-Real-IP / X-Forwarded-For / socket). */
  clientIp: string;
}

/** One rewritten route family. Created once per set of deps; handle() is called per request. */
export interface MigratedModule {
  readonly name: string;
  handle(req: IncomingMessage, res: ServerResponse, ctx: MigratedRequestContext): Promise<void>;
  /**
   * Start the reads `handle` will need for `req`, as soon as the gateway knows the request is this module's
   * (before any of the serving path runs). Read-only, synchronous to call, never throws; `handle` uses what it
   * started or reads afresh. May be called more than once for one request: only the first call starts anything.
   */
  prefetch?(req: IncomingMessage): void;
  /** Release timers, sockets, subscriptions. */
  close?(): Promise<void>;
}

export type MigratedModuleFactory = (deps: MigratedDeps) => MigratedModule;
