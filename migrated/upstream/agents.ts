import { Agent as HttpAgent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { proxyKey, type ProxyConfig } from './proxy.js';
import { openTunnel } from './tunnel.js';
import { ConnectionPool } from './h1/connection-pool.js';

type CreateCallback = (err: Error | null, stream: Duplex) => void;

type ConnOptions = ClientRequestArgs & { servername?: string; rejectUnauthorized?: boolean };

const KEEP_ALIVE: AgentOptions = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: 256, maxFreeSockets: 64, scheduling: 'lifo' };

/** Keep-alive agent that reaches plain-HTTP targets through a tunnel (the pooled socket is the tunnel). */
class TunnelHttpAgent extends HttpAgent {
  constructor(private readonly proxy: ProxyConfig) {
    super(KEEP_ALIVE);
  }
  override createConnection(options: ConnOptions, callback?: CreateCallback): Duplex | null | undefined {
    const host = String(options.hostname ?? options.host ?? 'localhost');
    openTunnel(this.proxy, host, Number(options.port ?? 80)).then(
      (socket) => callback?.(null, socket),
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** Keep-alive agent for HTTPS targets through a tunnel: CONNECT/SOCKS, then TLS inside it. */
class TunnelHttpsAgent extends HttpsAgent {
  constructor(
    private readonly proxy: ProxyConfig,
    private readonly ca: Buffer | undefined,
  ) {
    super(KEEP_ALIVE);
  }
  override createConnection(options: ConnOptions, callback?: CreateCallback): Duplex | null | undefined {
    const host = String(options.hostname ?? options.host ?? 'localhost');
    openTunnel(this.proxy, host, Number(options.port ?? 443)).then(
      (raw) => {
        const tls = tlsConnect({
          socket: raw,
          servername: options.servername ?? host,
          rejectUnauthorized: options.rejectUnauthorized !== false,
          ...(this.ca ? { ca: this.ca } : {}),
        });
        tls.once('secureConnect', () => callback?.(null, tls));
        tls.once('error', (err) => callback?.(err, undefined as unknown as Duplex));
      },
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/**
 * One keep-alive agent per (protocol, proxy). The legacy opens a fresh proxied TLS connection
 * per request; here connections to the same upstream through the same proxy are reused.
 */
export class AgentPool {
  private readonly agents = new Map<string, HttpAgent>();
  /** The keep-alive connections of `sendUpstream` (its own HTTP/1.1 exchanges, see h1/). */
  readonly connections: ConnectionPool;

  /** @param ca extra trusted CA for TLS targets (tests / lab; production uses NODE_EXTRA_CA_CERTS). */
  constructor(private readonly ca?: Buffer) {
    this.connections = new ConnectionPool(ca);
  }

  agentFor(protocol: 'http:' | 'https:', proxy: ProxyConfig | null): HttpAgent {
    const key = `${protocol}|${proxyKey(proxy)}`;
    const existing = this.agents.get(key);
    if (existing) return existing;
    let agent: HttpAgent;
    if (protocol === 'https:') agent = proxy ? new TunnelHttpsAgent(proxy, this.ca) : new HttpsAgent(this.ca ? { ...KEEP_ALIVE, ca: this.ca } : KEEP_ALIVE);
    else agent = proxy ? new TunnelHttpAgent(proxy) : new HttpAgent(KEEP_ALIVE);
    this.agents.set(key, agent);
    return agent;
  }

  destroy(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
    this.connections.destroy();
  }
}
