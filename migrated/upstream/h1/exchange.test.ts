import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentPool } from '../agents.js';
import { readBody, sendUpstream, UpstreamTimeoutError } from '../client.js';
import { sharedDir } from '../../../test-support/paths.js';
import type { UpstreamResponse } from './upstream-response.js';

/**
 * sendUpstream's own HTTP/1.1 against a raw TCP server whose answers are scripted per path, side by side
 * with Node's http.request where Node's behaviour is the reference.
 */
const answers: Record<string, (s: Socket) => void> = {
  '/dup': (s) =>
    s.write(
      'HTTP/1.1 200 OK\r\nContent-Type: a\r\nContent-Type: b\r\nSet-Cookie: x=1\r\nset-cookie: y=2\r\nX-Dup: 1\r\nx-dup: 2\r\nCookie: c=1\r\nCookie: d=2\r\nRetry-After: 5\r\nRetry-After: 6\r\nContent-Length: 2\r\n\r\nok',
    ),
  '/hangup': (s) => s.destroy(),
  '/cut': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
    setTimeout(() => s.destroy(), 20);
  },
  '/close': (s) => s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'),
  '/extra': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokJUNK'),
  '/ok': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/until-close': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ');
    setTimeout(() => s.end('last'), 20);
  },
  '/stall': (s) => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'),
  '/big': (s) => {
    const size = 8 * 1024 * 1024;
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`);
    s.write(Buffer.alloc(size, 97));
  },
};

let server: Server;
let port: number;
const connections: Socket[] = [];

beforeAll(async () => {
  server = createServer((socket) => {
    connections.push(socket);
    let buf = '';
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      // requests come chunked (no Content-Length given below): complete at the last chunk
      const end = buf.indexOf('0\r\n\r\n');
      if (end === -1) return;
      const path = /^POST (\S+)/.exec(buf)![1]!;
      buf = buf.slice(end + 5);
      answers[path]!(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  for (const c of connections) c.destroy();
  return new Promise<void>((r) => server.close(() => r()));
});

const call = (path: string) => ({ url: new URL(`http://127.0.0.1:${port}${path}`), method: 'POST' as const, headers: ['Host', 'x'], body: Buffer.from('{}'), proxy: null, timeoutMs: 5000 });

function viaNode(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: ['Host', 'x'], setHost: false }, resolve);
    req.on('error', reject);
    req.end('{}');
  });
}

/** How a response ends when the connection is cut: [aborted event, error message/code, complete]. */
function ending(res: UpstreamResponse | IncomingMessage): Promise<[boolean, string, string, boolean]> {
  return new Promise((resolve) => {
    let aborted = false;
    let error: Error & { code?: string } = Object.assign(new Error(''), { code: '' });
    res.on('aborted', () => (aborted = true));
    res.on('error', (e) => (error = e));
    res.on('data', () => {});
    res.on('close', () => resolve([aborted, error.message, error.code ?? '', res.complete]));
  });
}

describe('sendUpstream over its own HTTP/1.1', () => {
  it('builds `headers` as IncomingMessage does (duplicates, set-cookie, cookie, first-wins fields)', async () => {
    const pool = new AgentPool();
    const ours = await sendUpstream(pool, call('/dup'));
    const node = await viaNode('/dup');
    expect(ours.response.headers).toEqual(node.headers);
    expect(Object.keys(ours.response.headers)).toEqual(Object.keys(node.headers));
    expect(ours.response.rawHeaders).toEqual(node.rawHeaders);
    expect([ours.response.statusCode, ours.response.statusMessage, ours.response.httpVersion]).toEqual([node.statusCode, node.statusMessage, node.httpVersion]);
    node.resume();
    expect((await readBody(ours.response)).toString()).toBe('ok');
    pool.destroy();
  });

  it('a connection closed before the head rejects as Node does (socket hang up, ECONNRESET)', async () => {
    const pool = new AgentPool();
    const ours = (await sendUpstream(pool, call('/hangup')).catch((e: Error) => e)) as Error & { code: string };
    const node = (await viaNode('/hangup').catch((e: Error) => e)) as Error & { code: string };
    expect([ours.message, ours.code]).toEqual([node.message, node.code]);
    pool.destroy();
  });

  it('a connection cut in the body ends the response as IncomingMessage ends (aborted, ECONNRESET, incomplete)', async () => {
    const pool = new AgentPool();
    const ours = await ending((await sendUpstream(pool, call('/cut'))).response);
    const node = await ending(await viaNode('/cut'));
    expect(ours).toEqual(node);
    expect(ours[0]).toBe(true);
    pool.destroy();
  });

  it('reuses a connection after a complete message, not after Connection: close or bytes past the message', async () => {
    const pool = new AgentPool();
    const socketCount = () => connections.filter((c) => !c.destroyed).length;
    const read = async (path: string) => (await readBody((await sendUpstream(pool, call(path))).response)).toString();
    const before = connections.length;
    expect(await read('/ok')).toBe('ok');
    expect(await read('/ok')).toBe('ok');
    expect(connections.length - before).toBe(1);
    expect(await read('/close')).toBe('ok');
    expect(await read('/ok')).toBe('ok');
    expect(connections.length - before).toBe(2);
    expect(await read('/extra')).toBe('ok');
    expect(await read('/ok')).toBe('ok');
    expect(connections.length - before).toBe(3);
    expect(socketCount()).toBeGreaterThan(0);
    pool.destroy();
  });

  it('a body up to the connection end ends with it (complete), and the connection is not reused', async () => {
    const pool = new AgentPool();
    const before = connections.length;
    const { response } = await sendUpstream(pool, call('/until-close'));
    expect((await readBody(response)).toString()).toBe('first last');
    expect(response.complete).toBe(true);
    expect((await readBody((await sendUpstream(pool, call('/ok'))).response)).toString()).toBe('ok');
    expect(connections.length - before).toBe(2);
    pool.destroy();
  });

  it('an upstream that goes quiet in the body: the response is destroyed with the timeout error after timeoutMs', async () => {
    const pool = new AgentPool();
    const { response } = await sendUpstream(pool, { ...call('/stall'), timeoutMs: 80 });
    const chunks: string[] = [];
    const ended = new Promise<Error | null>((resolve) => {
      response.on('data', (c: Buffer) => chunks.push(c.toString()));
      response.on('error', () => {});
      response.on('close', () => resolve(response.errored));
    });
    const err = await ended;
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect([chunks.join(''), response.complete, response.aborted]).toEqual(['hello', false, true]);
    pool.destroy();
  });

  it('direct HTTPS: verified against the given CA (SNI and name check on the target), connection reused', async () => {
    const certs = join(sharedDir, 'lab', 'certs');
    let tlsConnections = 0;
    const tls = createHttpsServer({ key: readFileSync(join(certs, 'leaf.key')), cert: readFileSync(join(certs, 'leaf.pem')) }, (req, res) => {
      req.resume();
      req.on('end', () => res.end(`tls ${req.url}`));
    });
    tls.on('secureConnection', () => tlsConnections++);
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    const tlsPort = (tls.address() as { port: number }).port;
    const at = (path: string) => ({ ...call(path), url: new URL(`https://localhost:${tlsPort}${path}`) });
    const untrusted = new AgentPool();
    expect(await sendUpstream(untrusted, at('/a')).catch((e: Error) => e)).toBeInstanceOf(Error);
    untrusted.destroy();
    tlsConnections = 0;
    const pool = new AgentPool(readFileSync(join(certs, 'ca.pem')));
    for (const path of ['/a', '/b']) expect((await readBody((await sendUpstream(pool, at(path))).response)).toString()).toBe(`tls ${path}`);
    expect(tlsConnections).toBe(1);
    pool.destroy();
    await new Promise<void>((r) => tls.close(() => r()));
  });

  it('holds back a body the reader does not read (the connection pauses), then delivers all of it', async () => {
    const pool = new AgentPool();
    const { response } = await sendUpstream(pool, call('/big'));
    await new Promise((r) => setTimeout(r, 150));
    expect(response.readableLength).toBeLessThan(1024 * 1024);
    expect((await readBody(response)).length).toBe(8 * 1024 * 1024);
    pool.destroy();
  });
});
