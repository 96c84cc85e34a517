import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real HTTP origin for gateway tests (stands in for the legacy):
 *   GET  /bytes/:n          n deterministic binary bytes, Content-Length, custom-cased headers
 *   GET  /chunked/:n        n bytes in 3 chunks (Transfer-Encoding: chunked)
 *   GET  /sse/:events/:ms   SSE, one event every ms; the last event is `done`
 *   POST /echo              echoes method, url, headers (raw) and a sha-like sum of the body as JSON
 *   GET  /hang              never answers (abort / timeout tests)
 *   GET  /relayed           sets `connection` itself as the legacy does when it copies the headers of an upstream it
 *                           forwarded the client's Connection to: `close` for a client that asked to close, else
 *                           `keep-alive` + `keep-alive: timeout=65`
 *   GET  /cut/:n            announces 2n bytes (or chunked with ?chunked), sends n, then drops the connection
 *   anything else           404 JSON
 * Records every request it saw and whether a request was aborted by the client side.
 */

export interface Origin {
  url: string;
  port: number;
  server: Server;
  seen: Array<{ method: string; url: string; rawHeaders: string[] }>;
  aborted: string[];
  /** Resolves when the next request reaching /hang or /sse is aborted. */
  nextAbort(): Promise<string>;
  close(): Promise<void>;
}

export function patternBytes(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export async function startOrigin(): Promise<Origin> {
  const seen: Origin['seen'] = [];
  const aborted: string[] = [];
  let abortWaiters: Array<(u: string) => void> = [];
  const onAbort = (url: string) => {
    aborted.push(url);
    const w = abortWaiters;
    abortWaiters = [];
    for (const f of w) f(url);
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    seen.push({ method: req.method ?? '', url, rawHeaders: [...req.rawHeaders] });
    const parts = url.split('?')[0]!.split('/');
    const watchAbort = () => res.on('close', () => !res.writableFinished && onAbort(url));

    if (parts[1] === 'bytes') {
      const body = patternBytes(Number(parts[2]));
      res.writeHead(200, 'OK', ['X-Origin-Case', 'Mixed', 'content-type', 'application/octet-stream', 'Content-Length', String(body.length), 'x-last', 'yes']);
      res.end(body);
    } else if (parts[1] === 'chunked') {
      const body = patternBytes(Number(parts[2]), 11);
      res.writeHead(200, ['Content-Type', 'application/octet-stream', 'Transfer-Encoding', 'chunked']);
      const third = Math.ceil(body.length / 3);
      res.write(body.subarray(0, third));
      setTimeout(() => {
        res.write(body.subarray(third, 2 * third));
        res.end(body.subarray(2 * third));
      }, 5);
    } else if (parts[1] === 'sse') {
      const events = Number(parts[2]);
      const every = Number(parts[3]);
      watchAbort();
      res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache', 'Connection', 'keep-alive', 'X-Accel-Buffering', 'no']);
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        i++;
        if (i >= events) {
          res.end(`event: done\ndata: {"n":${i}}\n\n`);
          return;
        }
        res.write(`data: {"n":${i}}\n\n`);
        setTimeout(tick, every);
      };
      tick();
    } else if (parts[1] === 'echo') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        let sum = 0;
        for (const byte of body) sum = (sum * 31 + byte) >>> 0;
        const out = Buffer.from(JSON.stringify({ method: req.method, url, rawHeaders: req.rawHeaders, length: body.length, sum, body: body.length <= 1024 ? body.toString('latin1') : null }));
        res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(out.length)]);
        res.end(out);
      });
    } else if (parts[1] === 'relayed') {
      const hop = req.headers.connection?.toLowerCase() === 'close' ? ['connection', 'close'] : ['connection', 'keep-alive', 'keep-alive', 'timeout=65'];
      res.writeHead(200, ['Content-Type', 'application/json', ...hop, 'Content-Length', '2']);
      res.end('{}');
    } else if (parts[1] === 'cut') {
      const n = Number(parts[2]);
      const chunked = url.includes('?chunked');
      res.writeHead(200, chunked ? ['Content-Type', 'text/event-stream'] : ['Content-Type', 'application/octet-stream', 'Content-Length', String(2 * n)]);
      res.write(patternBytes(n));
      setTimeout(() => res.socket?.destroy(), 20);
    } else if (parts[1] === 'hang') {
      watchAbort();
      req.resume();
    } else {
      const body = JSON.stringify({ error: 'Not Found', message: `Route ${url} not found` });
      res.writeHead(404, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
      res.end(body);
    }
  };

  const server = createServer(handler);
  server.keepAliveTimeout = 605_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    seen,
    aborted,
    nextAbort: () => new Promise((r) => abortWaiters.push(r)),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
