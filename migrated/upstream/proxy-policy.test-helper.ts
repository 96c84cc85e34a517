import { connect as netConnect, createServer as createNetServer, type Server as NetServer } from 'node:net';

/** A local HTTP CONNECT proxy that tunnels to 127.0.0.1:<requested port> and counts its tunnels. */
export interface CountingProxy {
  server: NetServer;
  port: number;
  connects: number;
  close(): Promise<void>;
}

export async function startConnectProxy(): Promise<CountingProxy> {
  const server = createNetServer();
  const entry: CountingProxy = {
    server,
    port: 0,
    connects: 0,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  server.on('connection', (client) => {
    client.once('data', (head: Buffer) => {
      entry.connects++;
      const m = /^CONNECT ([^:]+):(\d+)/.exec(head.toString('latin1'))!;
      const upstream = netConnect(Number(m[2]), '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  entry.port = (server.address() as { port: number }).port;
  return entry;
}
