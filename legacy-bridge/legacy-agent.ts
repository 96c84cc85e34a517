import { Agent, type AgentOptions, type ClientRequest, type RequestOptions } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The keep-alive pool to the legacy: a node:http Agent whose request path takes a free socket directly.
 * Node's addRequest copies every request option into a fresh dictionary object (some 25 keys from
 * http-proxy's outgoing options plus the agent's own) and rebuilds the pool name for each request; with one
 * target the name never changes, so a pooled socket is handed over without that. Everything else (new
 * sockets, queueing, freeing, timeouts, errors) is the Agent's own code: the fast path only does what
 * Agent#addRequest does for a free socket (drop destroyed ones, take the most recent, mark it reused,
 * attach it, count it as busy).
 */
export class LegacyAgent extends Agent {
  private readonly poolName: string;
  private readonly host: string;
  private readonly port: number;

  constructor(target: { hostname: string; port: string }, options: AgentOptions) {
    super(options);
    this.host = target.hostname;
    this.port = Number(target.port) || 80;
    // Agent#getName for these options: `${host}:${port}:` (no localAddress, family or socketPath).
    this.poolName = this.getName({ host: this.host, port: this.port });
  }

  addRequest(req: ClientRequest, options: RequestOptions): void {
    const name = this.poolName;
    const free = (this.freeSockets as Record<string, Socket[] | undefined>)[name];
    // Only requests for the pool's own target (ClientRequest has set options.host to the hostname).
    if (free !== undefined && options.host === this.host && Number(options.port) === this.port && !options.socketPath && !options.localAddress) {
      while (free.length > 0 && free[0]!.destroyed) free.shift();
      const socket = free.pop();
      if (free.length === 0) delete (this.freeSockets as Record<string, Socket[] | undefined>)[name];
      if (socket !== undefined) {
        (this as unknown as { reuseSocket(s: Socket, r: ClientRequest): void }).reuseSocket(socket, req);
        req.onSocket(socket);
        const busy = this.sockets as Record<string, Socket[] | undefined>;
        (busy[name] ??= []).push(socket);
        return;
      }
    }
    // Agent's addRequest: a new socket, or a queue slot when maxSockets is reached.
    (Agent.prototype as unknown as { addRequest(r: ClientRequest, o: RequestOptions): void }).addRequest.call(this, req, options);
  }
}
