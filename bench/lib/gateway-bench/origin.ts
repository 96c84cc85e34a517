/** The origin for bench/sections/10-gateway.ts, run as its own process: /json, /post (10 kB echo length), /sse. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent } from '../child.js';

const json = Buffer.from(JSON.stringify({ object: 'list', data: [{ id: 'claude-sonnet-4-20250514', object: 'model' }] }));
const server = createServer((req, res) => {
  if (req.url === '/json') {
    res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(json.length)]);
    res.end(json);
  } else if (req.url === '/post') {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      const out = `{"received":${n}}`;
      res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(out.length)]);
      res.end(out);
    });
  } else {
    res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache']);
    let i = 0;
    const tick = () => {
      i++;
      if (i === 5) return void res.end('event: done\ndata: [DONE]\n\n');
      res.write(`data: {"n":${i}}\n\n`);
      setTimeout(tick, 2);
    };
    tick();
  }
});
server.keepAliveTimeout = 605_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
process.on('SIGTERM', () => process.exit(0));
exitWithParent();
