import { Agent, request } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeaderError, requestHead } from './request-head.js';

/** A TCP server that keeps the first bytes each connection sends (then answers a minimal 200). */
let server: Server;
let port: number;
const received: Buffer[] = [];

beforeAll(async () => {
  server = createServer((socket: Socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf('\r\n\r\n');
      if (headEnd === -1) return;
      const m = /content-length: (\d+)/i.exec(all.toString('latin1', 0, headEnd));
      const chunked = /transfer-encoding: chunked/i.test(all.toString('latin1', 0, headEnd));
      const complete = chunked ? all.includes('0\r\n\r\n', headEnd) : all.length >= headEnd + 4 + Number(m?.[1] ?? 0);
      if (!complete) return;
      received.push(all);
      chunks.length = 0;
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

/** The bytes Node's http.request writes for this call (keep-alive agent, flat headers, setHost false). */
function nodeBytes(method: string, path: string, headers: string[], body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const before = received.length;
    const agent = new Agent({ keepAlive: true });
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent, setHost: false }, (res) => {
      res.resume();
      res.on('end', () => {
        agent.destroy();
        resolve(received[before]!);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function ourBytes(method: string, path: string, headers: string[], body: Buffer): Buffer {
  const head = requestHead(method, path, headers);
  if (!head.chunked) return Buffer.concat([Buffer.from(head.text, 'latin1'), body]);
  const framed = body.length ? [Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n')] : [];
  return Buffer.concat([Buffer.from(head.text, 'latin1'), ...framed, Buffer.from('0\r\n\r\n')]);
}

const cases: Array<[string, string, string, string[], string]> = [
  ['POST with a body, no length given', 'POST', '/v1/messages?beta=true', ['Host', 'api.anthropic.com', 'x-api-key', 'k', 'Content-Type', 'application/json'], '{"a":1}'],
  ['POST with its own content-length and connection', 'POST', '/v1/messages', ['host', 'h', 'content-length', '2', 'connection', 'keep-alive'], '{}'],
  ['POST with an empty body', 'POST', '/x', ['Host', 'h'], ''],
  ['GET', 'GET', '/status', ['Host', 'h', 'Accept', '*/*'], ''],
  ['Connection: close given', 'POST', '/c', ['Host', 'h', 'Connection', 'close'], 'x'],
  ['chunked given', 'POST', '/t', ['Host', 'h', 'Transfer-Encoding', 'chunked'], 'hello'],
  ['latin1 and repeated names', 'POST', '/l', ['Host', 'h', 'X-A', 'caf\u00e9', 'X-A', 'two', 'User-Agent', 'claude-cli/2.0 (external, cli)'], '{"t":"\u00e9"}'],
];

describe('requestHead', () => {
  for (const [name, method, path, headers, body] of cases) {
    it(`writes what http.request writes: ${name}`, async () => {
      const payload = Buffer.from(body);
      const expected = await nodeBytes(method, path, headers, payload);
      expect(ourBytes(method, path, headers, payload).toString('latin1')).toBe(expected.toString('latin1'));
    });
  }

  it('refuses the headers Node refuses, with its codes and messages', () => {
    const codeOf = (headers: string[]) => {
      try {
        requestHead('POST', '/', headers);
        return null;
      } catch (e) {
        expect(e).toBeInstanceOf(HeaderError);
        return [(e as HeaderError).code, (e as Error).message, (e as Error).name];
      }
    };
    const nodeCodeOf = (headers: string[]) => {
      try {
        request({ host: '127.0.0.1', port: 9, method: 'POST', headers, setHost: false })
          .on('error', () => {})
          .destroy();
        return null;
      } catch (e) {
        return [(e as { code: string }).code, (e as Error).message, (e as Error).name];
      }
    };
    for (const headers of [['Bad Name', 'v'], ['X-Ok', 'line\nbreak'], ['X-Ok', 'tab\tok']]) expect(codeOf(headers)).toEqual(nodeCodeOf(headers));
    expect(codeOf(['X-Ok', 'tab\tok'])).toBeNull();
  });
});
