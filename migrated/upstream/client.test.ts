import { getEventListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../test-support/paths.js';
import { AgentPool } from './agents.js';
import { readBody, sendUpstream, UpstreamAbortError, UpstreamTimeoutError } from './client.js';
import { parseProxy } from './proxy.js';

const listen = (s: Server | NetServer): Promise<number> =>
  new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as { port: number }).port)));

let target: Server;
let targetPort: number;
const seenSockets: Array<{ port: number; host: string | undefined; raw: string[] }> = [];
let connectProxy: NetServer;
let connectPort: number;
let connectCount = 0;
let socksProxy: NetServer;
let socksPort: number;
let socksAuth: string | null = null;

function handler(req: IncomingMessage, res: ServerResponse): void {
  seenSockets.push({ port: req.socket.remotePort!, host: req.headers.host, raw: req.rawHeaders });
  if (req.url === '/slow') return; // never answers
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`ok ${req.url}`);
  });
}

function pipeTo(client: Socket, host: string, port: number, reply: Buffer, rest: Buffer): void {
  const upstream = netConnect(port, host, () => {
    client.write(reply);
    if (rest.length) upstream.write(rest);
    client.pipe(upstream).pipe(client);
  });
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
}

beforeAll(async () => {
  target = createServer(handler);
  targetPort = await listen(target);
  connectProxy = createNetServer((client) => {
    client.once('data', (head: Buffer) => {
      connectCount++;
      const m = /^CONNECT ([^:]+):(\d+)/.exec(head.toString('latin1'))!;
      pipeTo(client, m[1] === 'api.anthropic.com' ? '127.0.0.1' : m[1]!, Number(m[2]), Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n'), Buffer.alloc(0));
    });
  });
  connectPort = await listen(connectProxy);
  socksProxy = createNetServer((client) => {
    let stage = 0;
    client.on('data', function onData(buf: Buffer) {
      if (stage === 0) {
        const methods = [...buf.subarray(2, 2 + buf[1]!)];
        stage = methods.includes(2) ? 1 : 2;
        client.write(Buffer.from([5, methods.includes(2) ? 2 : 0]));
      } else if (stage === 1) {
        const ulen = buf[1]!;
        socksAuth = `${buf.subarray(2, 2 + ulen).toString()}:${buf.subarray(3 + ulen, 3 + ulen + buf[2 + ulen]!).toString()}`;
        stage = 2;
        client.write(Buffer.from([1, 0]));
      } else {
        client.removeListener('data', onData);
        const atyp = buf[3];
        let host: string;
        let off: number;
        if (atyp === 1) {
          host = [...buf.subarray(4, 8)].join('.');
          off = 8;
        } else {
          host = buf.subarray(5, 5 + buf[4]!).toString();
          off = 5 + buf[4]!;
        }
        const port = buf.readUInt16BE(off);
        pipeTo(client, host === 'localhost' ? '127.0.0.1' : host, port, Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.alloc(0));
      }
    });
  });
  socksPort = await listen(socksProxy);
});

afterAll(async () => {
  for (const s of [target, connectProxy, socksProxy]) await new Promise((r) => s.close(r));
});

const call = (path: string, proxy = null as ReturnType<typeof parseProxy>, extra: Partial<Parameters<typeof sendUpstream>[1]> = {}) => ({
  url: new URL(`http://127.0.0.1:${targetPort}${path}`),
  method: 'POST' as const,
  headers: ['host', 'api.anthropic.com', 'X-Custom-Case', 'v', 'content-length', '2', 'connection', 'keep-alive'],
  body: Buffer.from('{}'),
  proxy,
  timeoutMs: 5000,
  ...extra,
});

describe('upstream client', () => {
  it('keeps connections alive and sends headers exactly as given (names, order, host)', async () => {
    const pool = new AgentPool();
    seenSockets.length = 0;
    for (const p of ['/a', '/b']) {
      const { response } = await sendUpstream(pool, call(p));
      expect((await readBody(response)).toString()).toBe(`ok ${p}`);
    }
    expect(seenSockets[0]!.port).toBe(seenSockets[1]!.port);
    expect(seenSockets[0]!.raw).toEqual(['host', 'api.anthropic.com', 'X-Custom-Case', 'v', 'content-length', '2', 'connection', 'keep-alive']);
    pool.destroy();
  });

  it('tunnels through an HTTP CONNECT proxy and reuses the tunnel', async () => {
    const pool = new AgentPool();
    connectCount = 0;
    const proxy = parseProxy(`{"type":"http","host":"127.0.0.1","port":${connectPort}}`);
    for (const p of ['/x', '/y']) expect((await readBody((await sendUpstream(pool, call(p, proxy))).response)).toString()).toBe(`ok ${p}`);
    expect(connectCount).toBe(1);
    pool.destroy();
  });

  it('tunnels through SOCKS5 with username/password', async () => {
    const pool = new AgentPool();
    const proxy = parseProxy({ type: 'socks5', host: '127.0.0.1', port: String(socksPort), username: 'u', password: 'p' });
    expect((await readBody((await sendUpstream(pool, call('/s', proxy))).response)).toString()).toBe('ok /s');
    expect(socksAuth).toBe('u:p');
    pool.destroy();
  });

  it('speaks TLS inside a CONNECT tunnel (SNI = target host)', async () => {
    const certs = join(sharedDir, 'lab', 'certs');
    const tlsServer = createHttpsServer({ key: readFileSync(join(certs, 'leaf.key')), cert: readFileSync(join(certs, 'leaf.pem')) }, handler);
    const tlsPort = await listen(tlsServer);
    const proxy = parseProxy({ type: 'http', host: '127.0.0.1', port: connectPort });
    const tlsCall = { ...call('/t', proxy), url: new URL(`https://api.anthropic.com:${tlsPort}/t`) };
    // untrusted CA → rejected
    const untrusted = new AgentPool();
    expect(await sendUpstream(untrusted, tlsCall).catch((e: Error) => e)).toBeInstanceOf(Error);
    untrusted.destroy();
    // lab CA trusted → the certificate for api.anthropic.com verifies through the tunnel
    const pool = new AgentPool(readFileSync(join(certs, 'ca.pem')));
    seenSockets.length = 0;
    for (const p of ['/t', '/u']) {
      const { response } = await sendUpstream(pool, { ...tlsCall, url: new URL(`https://api.anthropic.com:${tlsPort}${p}`) });
      expect((await readBody(response)).toString()).toBe(`ok ${p}`);
    }
    expect(seenSockets[0]!.port).toBe(seenSockets[1]!.port);
    await new Promise((r) => tlsServer.close(r));
    pool.destroy();
  });

  it('inactivity timeout rejects with "Request timeout"; invalid proxies are ignored', async () => {
    const pool = new AgentPool();
    const err = await sendUpstream(pool, call('/slow', null, { timeoutMs: 100 })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UpstreamTimeoutError);
    expect((err as Error).message).toBe('Request timeout');
    expect(parseProxy('{"type":"ftp","host":"h","port":1}')).toBeNull();
    expect(parseProxy('not json')).toBeNull();
    pool.destroy();
  });

  it('a signal aborts before the head (reject), after it (response destroyed), or up front; its listener goes with the request', async () => {
    const pool = new AgentPool();
    // before the head: /slow never answers
    const early = new AbortController();
    const pending = sendUpstream(pool, call('/slow', null, { signal: early.signal })).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 30));
    early.abort(new Error('client disconnected'));
    const err = (await pending) as UpstreamAbortError;
    expect(err).toBeInstanceOf(UpstreamAbortError);
    expect([err.name, err.code, err.message]).toEqual(['AbortError', 'ABORT_ERR', 'The operation was aborted']);
    expect((err.cause as Error).message).toBe('client disconnected');
    // already aborted: nothing is sent
    const before = seenSockets.length;
    const gone = new AbortController();
    gone.abort();
    expect(await sendUpstream(pool, call('/never', null, { signal: gone.signal })).catch((e: Error) => e)).toBeInstanceOf(UpstreamAbortError);
    expect(seenSockets.length).toBe(before);
    // after the head: the response is destroyed with the abort error
    const late = new AbortController();
    const { response } = await sendUpstream(pool, call('/late', null, { signal: late.signal }));
    const destroyed = new Promise<Error | undefined>((r) => response.once('close', () => r(response.errored ?? undefined)));
    late.abort();
    expect(await destroyed).toBeInstanceOf(UpstreamAbortError);
    // a finished request leaves no listener on a long-lived signal
    const kept = new AbortController();
    const listeners = () => getEventListeners(kept.signal, 'abort').length;
    const ok = await sendUpstream(pool, call('/done', null, { signal: kept.signal }));
    expect((await readBody(ok.response)).toString()).toBe('ok /done');
    await new Promise((r) => setTimeout(r, 10));
    expect(listeners()).toBe(0);
    pool.destroy();
  });
});
