import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { openTunnel } from '../tunnel.js';
import { proxyKey, type ProxyConfig } from '../proxy.js';

/**
 * Keep-alive connections per origin (and proxy), for the HTTP/1.1 exchanges of `sendUpstream`. A free
 * connection is taken synchronously (the request is written in the same tick as it was made); a new one is
 * opened directly (TCP, TLS with SNI = the target host unless it is an IP address) or through the proxy's
 * tunnel (CONNECT or SOCKS5, then TLS inside it for https). Free connections are taken last-in first-out, at most
 * `maxFree` kept per origin, unreferenced (they do not keep the process alive) and dropped when the server closes
 * them. Connections in use are not limited (the legacy opened one per request).
 */

const MAX_FREE_PER_ORIGIN = 64;
const KEEP_ALIVE_PROBE_MS = 30_000;

export interface Origin {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  proxy: ProxyConfig | null;
}

/** A connection being opened: the socket when it exists already (writes are queued until it connects), else its promise. */
export type Lease = { socket: Socket } | { pending: Promise<Socket> };

interface FreeEntry {
  socket: Socket;
  drop: () => void;
}

export class ConnectionPool {
  private readonly free = new Map<string, FreeEntry[]>();
  private closed = false;

  /** @param ca extra trusted CA for TLS targets (tests / lab; production uses NODE_EXTRA_CA_CERTS). */
  constructor(private readonly ca?: Buffer) {}

  static keyOf(o: Origin): string {
    return `${o.protocol}//${o.hostname}:${o.port}|${proxyKey(o.proxy)}`;
  }

  acquire(o: Origin, key = ConnectionPool.keyOf(o)): Lease {
    const list = this.free.get(key);
    const entry = list?.pop();
    if (entry) {
      entry.drop();
      entry.socket.ref();
      return { socket: entry.socket };
    }
    if (o.proxy) return { pending: this.tunnel(o, o.proxy) };
    return { socket: this.direct(o) };
  }

  /** Hand a connection back after a complete exchange; kept for the next request to the same origin. */
  release(key: string, socket: Socket): void {
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    if (list.length >= MAX_FREE_PER_ORIGIN) {
      socket.destroy();
      return;
    }
    socket.setTimeout(0);
    socket.unref();
    const entries = list;
    const onGone = () => {
      const at = entries.indexOf(entry);
      if (at !== -1) entries.splice(at, 1);
      socket.destroy();
    };
    // anything the server sends while the connection is idle is not an answer to us: drop the connection
    socket.on('data', onGone);
    socket.on('error', onGone);
    socket.on('close', onGone);
    socket.on('end', onGone);
    const entry: FreeEntry = {
      socket,
      drop: () => {
        socket.removeListener('data', onGone);
        socket.removeListener('error', onGone);
        socket.removeListener('close', onGone);
        socket.removeListener('end', onGone);
      },
    };
    list.push(entry);
  }

  destroy(): void {
    this.closed = true;
    for (const list of this.free.values()) for (const e of list.splice(0)) e.socket.destroy();
    this.free.clear();
  }

  private direct(o: Origin): Socket {
    const socket =
      o.protocol === 'https:'
        ? tlsConnect({ host: o.hostname, port: o.port, servername: isIP(o.hostname) ? '' : o.hostname, ...(this.ca ? { ca: this.ca } : {}) })
        : netConnect({ host: o.hostname, port: o.port });
    prepare(socket);
    return socket;
  }

  private async tunnel(o: Origin, proxy: ProxyConfig): Promise<Socket> {
    const raw = await openTunnel(proxy, o.hostname, o.port);
    if (o.protocol !== 'https:') {
      prepare(raw);
      return raw;
    }
    return new Promise((resolve, reject) => {
      const tls = tlsConnect({ socket: raw, servername: isIP(o.hostname) ? '' : o.hostname, ...(this.ca ? { ca: this.ca } : {}) });
      tls.once('secureConnect', () => {
        tls.removeListener('error', reject);
        prepare(tls);
        resolve(tls);
      });
      tls.once('error', (err) => {
        raw.destroy();
        reject(err);
      });
    });
  }
}

function prepare(socket: Socket): void {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEP_ALIVE_PROBE_MS);
}
