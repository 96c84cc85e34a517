import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentEncoding } from './upstream-target.js';

/** A raw server answering each request with the header lines named by its path's index (exact bytes, any case). */
const CASES: string[][] = [
  [],
  ['Content-Encoding: gzip'],
  ['content-encoding:  GZip  '],
  ['CONTENT-ENCODING: br'],
  ['Content-Encoding: gzip', 'X-Other: 1', 'content-encoding: deflate'],
  ['Content-Encoding:'],
  ['Content-Encodings: gzip', 'X-Content-Encoding: br'],
];
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((socket) => {
    socket.once('data', (head: Buffer) => {
      const i = Number(/^GET \/(\d+)/.exec(head.toString('latin1'))![1]);
      socket.end(['HTTP/1.1 200 OK', ...CASES[i]!, 'Content-Length: 0', 'Connection: close', '', ''].join('\r\n'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('upstream content encoding', () => {
  it('read from rawHeaders exactly as from the headers object (duplicates joined, trimmed, lower-cased)', async () => {
    for (let i = 0; i < CASES.length; i++) {
      const { raw, fromObject } = await new Promise<{ raw: string[]; fromObject: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path: `/${i}`, agent: false }, (res) => {
          const raw = res.rawHeaders;
          resolve({ raw, fromObject: String(res.headers['content-encoding'] ?? '').trim().toLowerCase() });
          res.resume();
        })
          .on('error', reject)
          .end();
      });
      expect(contentEncoding(raw), `case ${i}`).toBe(fromObject);
    }
    expect(contentEncoding(['Content-Encoding', 'gzip', 'content-encoding', 'br'])).toBe('gzip, br');
  });
});
