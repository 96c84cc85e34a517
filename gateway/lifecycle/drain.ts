import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { InFlightList } from './in-flight-list.js';

/**
 * In-flight tracking and a keep-alive-aware drain for the data port.
 *
 * A proxy in front (nginx with an upstream keep-alive pool) keeps sending new requests on its pooled
 * connections while the gateway drains, so waiting for "no request in flight" alone never ends. Once draining:
 *  - the server stops accepting and idle keep-alive connections are closed at once;
 *  - every response whose head is still to be written says `Connection: close` (a Connection header the
 *    response carries, e.g. the legacy's, keeps its name and place with the value `close`; `Keep-Alive` is
 *    dropped; without one Node appends `Connection: close`), so the peer stops using the connection and Node
 *    closes it after that response. Exception: a response with further requests already queued behind it on
 *    the same connection (pipelining) stays as it is; the last of them says close, so none is lost;
 *  - a connection whose response head went out before the drain (a long SSE stream) is ended right after
 *    its last response finishes.
 * `drain` resolves as soon as nothing is in flight, or after the timeout.
 */

export interface ConnectionDrain {
  /** Call for every data-port request, before it is handled. */
  track(req: IncomingMessage, res: ServerResponse): void;
  inFlight(): number;
  readonly draining: boolean;
  /**
   * Start draining `server` (stop accepting, close idle connections, Connection: close from now on) and wait
   * until no request is in flight (true) or `timeoutMs` passed (false). The caller closes what is left.
   */
  drain(server: Server, timeoutMs: number): Promise<boolean>;
  /** Wait (already draining) until no request is in flight (true) or `timeoutMs` passed (false). */
  waitIdle(timeoutMs: number): Promise<boolean>;
}

/** `headers` (flat array, array of pairs, or object) with Connection set to `close` in place and Keep-Alive removed. */
export function closeConnectionIn(headers: unknown): { headers: unknown; hadConnection: boolean } {
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      const pairs = headers as Array<[string, unknown]>;
      const out: Array<[string, unknown]> = [];
      let had = false;
      for (const [name, value] of pairs) {
        const lower = String(name).toLowerCase();
        if (lower === 'keep-alive') continue;
        if (lower === 'connection') {
          if (!had) out.push([name, 'close']);
          had = true;
          continue;
        }
        out.push([name, value]);
      }
      return { headers: out, hadConnection: had };
    }
    const flat = headers as unknown[];
    const out: unknown[] = [];
    let had = false;
    for (let i = 0; i < flat.length; i += 2) {
      const lower = String(flat[i]).toLowerCase();
      if (lower === 'keep-alive') continue;
      if (lower === 'connection') {
        if (!had) out.push(flat[i], 'close');
        had = true;
        continue;
      }
      out.push(flat[i], flat[i + 1]);
    }
    return { headers: out, hadConnection: had };
  }
  if (headers && typeof headers === 'object') {
    const out: OutgoingHttpHeaders = {};
    let had = false;
    for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
      const lower = name.toLowerCase();
      if (lower === 'keep-alive') continue;
      if (lower === 'connection') {
        if (!had) out[name] = 'close';
        had = true;
        continue;
      }
      out[name] = value;
    }
    return { headers: out, hadConnection: had };
  }
  return { headers, hadConnection: false };
}

const kSocket = Symbol('gateway.drain.socket');
type TrackedResponse = ServerResponse & { [kSocket]?: Socket };

export function createConnectionDrain(): ConnectionDrain {
  const active = new InFlightList<ServerResponse>();
  const perSocket = new WeakMap<Socket, number>();
  let draining = false;
  let idleWaiters: Array<() => void> = [];
  const patched = new WeakSet<ServerResponse>();

  /** From the next writeHead on (explicit or implicit), say close unless more requests wait on this socket. */
  const closeAfter = (res: ServerResponse): void => {
    if (res.headersSent || patched.has(res)) return;
    patched.add(res);
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      const socket = this.socket;
      if (!socket || (perSocket.get(socket) ?? 0) <= 1) {
        this.shouldKeepAlive = false;
        const last = args.length - 1;
        if (last >= 1 && args[last] !== null && typeof args[last] === 'object') args[last] = closeConnectionIn(args[last]).headers;
        // Headers set with setHeader() are merged by Node at writeHead: fix them in place too.
        // (getRawHeaderNames: Node >= 15.13, missing from @types/node.)
        const names = (this as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames();
        for (const name of names) {
          const lower = name.toLowerCase();
          if (lower === 'connection') this.setHeader(name, 'close');
          else if (lower === 'keep-alive') this.removeHeader(name);
        }
      }
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
  };

  const endIfUnused = (socket: Socket | null) => {
    if (socket && !socket.destroyed && (perSocket.get(socket) ?? 0) === 0) socket.end();
  };

  /** Shared 'close' listener (`this`: the response; no closure per request). */
  function onClose(this: TrackedResponse): void {
    const socket = this[kSocket]!;
    active.delete(this);
    perSocket.set(socket, (perSocket.get(socket) ?? 1) - 1);
    if (draining) endIfUnused(socket);
    if (active.size === 0 && idleWaiters.length) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  }

  const waitIdle = async (timeoutMs: number): Promise<boolean> => {
    if (active.size === 0) return true;
    if (timeoutMs <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const idle = await Promise.race([
      new Promise<boolean>((r) => idleWaiters.push(() => r(true))),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    return idle;
  };

  return {
    get draining() {
      return draining;
    },
    inFlight: () => active.size,
    track(req, res) {
      active.add(res);
      const socket = req.socket;
      perSocket.set(socket, (perSocket.get(socket) ?? 0) + 1);
      if (draining) closeAfter(res);
      // The response's socket is gone by 'close' (detached when it finished): remember it for the shared listener.
      (res as TrackedResponse)[kSocket] = socket;
      res.once('close', onClose);
    },
    async drain(server, timeoutMs) {
      draining = true;
      for (const res of active) closeAfter(res);
      // close() stops accepting and (Node >= 19) closes idle keep-alive connections; say it explicitly anyway.
      server.close();
      server.closeIdleConnections();
      return waitIdle(timeoutMs);
    },
    waitIdle,
  };
}
