import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Status and body of the next answers, in order; afterwards 200 `{"ok":true}`. */
  script: Array<{ status: number; body: string }>;
  /** Resolves once `n` requests have arrived. */
  waitFor(n: number): Promise<Received[]>;
  /** While set, requests are held (not answered) until `release()`. */
  hold: boolean;
  release(): void;
  close(): Promise<void>;
}

/** A local webhook endpoint (node:http on a free port) recording every request it gets. */
export async function startReceiver(): Promise<Receiver> {
  const waiters: Array<{ n: number; resolve: (r: Received[]) => void }> = [];
  const held: Array<() => void> = [];
  const r: Receiver = {
    url: '',
    received: [],
    script: [],
    hold: false,
    waitFor: (n) =>
      new Promise((resolve) => {
        if (r.received.length >= n) resolve(r.received);
        else waiters.push({ n, resolve });
      }),
    release: () => {
      r.hold = false;
      for (const answer of held.splice(0)) answer();
    },
    close: async () => {
      r.release();
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      for (const w of waiters.filter((x) => r.received.length >= x.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r.received);
      }
      const answer = () => {
        const next = r.script.shift() ?? { status: 200, body: '{"ok":true}' };
        res.writeHead(next.status, { 'content-type': 'application/json' });
        res.end(next.body);
      };
      if (r.hold) held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}
