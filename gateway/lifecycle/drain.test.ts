import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigratedModuleFactory } from '../../migrated/module.js';
import type { Gateway } from '../create.js';
import { startTestGateway } from '../testing/gateway.js';
import { dechunk } from '../testing/raw-http.js';
import { closeConnectionIn } from './drain.js';

/**
 * Drain under keep-alive (what nginx's upstream pool does): once close() starts, every response says
 * `Connection: close`, idle connections close at once, busy ones right after their response, and close()
 * resolves as soon as nothing is in flight — long before GATEWAY_DRAIN_TIMEOUT_MS (20 s here, beyond the
 * test timeout, so waiting for it fails the test).
 */

/** An origin whose answers the test releases: /hold/:id (sized JSON), /sse/:id (head + first event now, the rest on release), /fast. */
interface HoldOrigin {
  url: string;
  port: number;
  seen: string[];
  arrived(id: string): Promise<void>;
  release(id: string): void;
  close(): Promise<void>;
}

async function startHoldOrigin(): Promise<HoldOrigin> {
  const seen: string[] = [];
  const waiters = new Map<string, Array<() => void>>();
  const held = new Map<string, () => void>();
  const notify = (id: string) => {
    for (const f of waiters.get(id) ?? []) f();
    waiters.delete(id);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    seen.push(url);
    const [, kind, id = ''] = url.split('/');
    const json = (body: string) =>
      res.writeHead(200, ['X-Origin', 'hold', 'Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'x-tail', 'yes']).end(body);
    if (kind === 'hold') {
      held.set(id, () => json(JSON.stringify({ id, pad: 'x'.repeat(20_000) })));
      notify(id);
    } else if (kind === 'sse') {
      res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache', 'Connection', 'keep-alive']);
      res.write('data: {"n":1}\n\n');
      held.set(id, () => {
        res.write('data: {"n":2}\n\n');
        res.end('event: done\ndata: {"n":3}\n\n');
      });
      notify(id);
    } else json(JSON.stringify({ fast: url }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    arrived: (id) => (held.has(id) ? Promise.resolve() : new Promise((r) => waiters.set(id, [...(waiters.get(id) ?? []), r]))),
    release: (id) => held.get(id)!(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Parsed {
  statusLine: string;
  rawHeaders: string[];
  body: Buffer;
}

/** A raw keep-alive HTTP/1.1 connection: requests in order (pipelining allowed), responses parsed whole. */
class KeepAliveConnection {
  private buf = Buffer.alloc(0);
  private waiting: Array<(r: Parsed) => void> = [];
  readonly socket: Socket;
  readonly closed: Promise<void>;
  /** Bytes left unparsed when the connection closed (a response cut mid-way). */
  leftover = 0;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    this.closed = new Promise((r) =>
      this.socket.once('close', () => {
        this.leftover = this.buf.length;
        r();
      }),
    );
    this.socket.on('error', () => {});
  }

  send(path: string): Promise<Parsed> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: gw\r\n\r\n`);
    return new Promise((r) => this.waiting.push(r));
  }

  /** Several requests in one write (pipelined). */
  pipeline(paths: string[]): Array<Promise<Parsed>> {
    this.socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: gw\r\n\r\n`).join(''));
    return paths.map(() => new Promise<Parsed>((r) => this.waiting.push(r)));
  }

  private parse(): void {
    for (;;) {
      const split = this.buf.indexOf('\r\n\r\n');
      if (split === -1) return;
      const lines = this.buf.subarray(0, split).toString('latin1').split('\r\n');
      const rawHeaders = lines.slice(1).flatMap((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]);
      const h = (name: string) => rawHeaders.find((_, i) => i % 2 === 0 && rawHeaders[i]!.toLowerCase() === name);
      const value = (name: string) => {
        const i = rawHeaders.findIndex((n, j) => j % 2 === 0 && n.toLowerCase() === name);
        return i === -1 ? undefined : rawHeaders[i + 1];
      };
      const rest = this.buf.subarray(split + 4);
      let end: number;
      let body: Buffer;
      if (h('content-length') !== undefined) {
        end = Number(value('content-length'));
        if (rest.length < end) return;
        body = rest.subarray(0, end);
      } else {
        const last = rest.indexOf('\r\n0\r\n\r\n');
        const atStart = rest.subarray(0, 5).toString('latin1') === '0\r\n\r\n';
        if (last === -1 && !atStart) return;
        end = atStart ? 5 : last + 7;
        body = dechunk(rest.subarray(0, end));
      }
      this.buf = rest.subarray(end);
      this.waiting.shift()?.({ statusLine: lines[0]!, rawHeaders, body });
    }
  }
}

const header = (r: Parsed, name: string) => {
  const i = r.rawHeaders.findIndex((n, j) => j % 2 === 0 && n.toLowerCase() === name);
  return i === -1 ? undefined : r.rawHeaders[i + 1];
};
const names = (r: Parsed) => r.rawHeaders.filter((_, i) => i % 2 === 0);

/** A module whose /mod/hold answer waits for the test (sized JSON, no Connection header of its own). */
let releaseModule: () => void = () => {};
let moduleArrived: () => void = () => {};
const moduleHere = new Promise<void>((r) => (moduleArrived = r));
const heldModule: MigratedModuleFactory = () => ({
  name: 'held',
  async handle(_req, res) {
    moduleArrived();
    await new Promise<void>((r) => (releaseModule = r));
    res.writeHead(200, ['Content-Type', 'application/json', 'Content-Length', '13']).end('{"side":"mg"}');
  },
});

describe('closeConnectionIn', () => {
  it('sets Connection to close in place, drops Keep-Alive, in every header form', () => {
    expect(closeConnectionIn(['A', '1', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'B', '2'])).toEqual({
      headers: ['A', '1', 'Connection', 'close', 'B', '2'],
      hadConnection: true,
    });
    expect(closeConnectionIn(['a', '1', 'connection', 'keep-alive', 'CONNECTION', 'upgrade'])).toEqual({ headers: ['a', '1', 'connection', 'close'], hadConnection: true });
    expect(closeConnectionIn([['A', '1'], ['keep-alive', 'x'], ['Connection', 'keep-alive']])).toEqual({ headers: [['A', '1'], ['Connection', 'close']], hadConnection: true });
    expect(closeConnectionIn({ 'content-type': 'x', Connection: 'keep-alive', 'Keep-Alive': 't' })).toEqual({
      headers: { 'content-type': 'x', Connection: 'close' },
      hadConnection: true,
    });
    expect(closeConnectionIn(['A', '1'])).toEqual({ headers: ['A', '1'], hadConnection: false });
  });
});

describe('drain under keep-alive', () => {
  let origin: HoldOrigin;
  let gw: Gateway;

  beforeAll(async () => {
    origin = await startHoldOrigin();
    gw = await startTestGateway(origin.url, {
      env: { GATEWAY_DRAIN_TIMEOUT_MS: '20000' },
      modules: { held: async () => heldModule },
      table: { routes: [{ id: 'mod', paths: ['/mod/*'], mode: 'migrated', module: 'held' }] },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await origin?.close();
  });

  it('serves in-flight requests whole with Connection: close, finishes a stream, closes every connection, exits without the timeout', async () => {
    // Before the drain: the legacy's own head for the held answer (direct), and keep-alive answers through the gateway.
    const directConn = new KeepAliveConnection(origin.port);
    const directReply = directConn.send('/hold/direct');
    await origin.arrived('direct');
    origin.release('direct');
    const direct = await directReply;
    directConn.socket.destroy();

    const k = new KeepAliveConnection(gw.dataPort); // keeps sending until told close
    const kept: Parsed[] = [];
    for (let i = 0; i < 3; i++) kept.push(await k.send(`/fast/${i}`));
    for (const r of kept) expect(header(r, 'connection')).toBe('keep-alive');

    const idle = new KeepAliveConnection(gw.dataPort); // used once, then idle
    expect((await idle.send('/fast/idle')).statusLine).toBe('HTTP/1.1 200 OK');

    const sse = new KeepAliveConnection(gw.dataPort); // head sent before the drain (keep-alive)
    const sseReply = sse.send('/sse/s');
    await origin.arrived('s');

    const pipe = new KeepAliveConnection(gw.dataPort); // two pipelined requests, both held at the legacy
    const [p1, p2] = pipe.pipeline(['/hold/p1', '/hold/p2']) as [Promise<Parsed>, Promise<Parsed>];
    await origin.arrived('p1');
    await origin.arrived('p2');

    const mod = new KeepAliveConnection(gw.dataPort); // a migrated module's answer
    const modReply = mod.send('/mod/hold');
    await moduleHere;

    const kReply = k.send('/hold/k');
    await origin.arrived('k');

    // SIGTERM's work: start the drain with all of that in flight.
    let closedAt = 0;
    const closing = gw.close().then(() => (closedAt = performance.now()));
    await idle.closed; // idle keep-alive connection: closed at once
    expect(idle.leftover).toBe(0);
    await expect(new Promise((resolve, reject) => connect(gw.dataPort, '127.0.0.1').once('connect', resolve).once('error', reject))).rejects.toThrow(/ECONNREFUSED/);

    // The held legacy answer: whole, the legacy's head with Connection: close in place of keep-alive + Keep-Alive.
    origin.release('k');
    const last = await kReply;
    expect(last.statusLine).toBe(direct.statusLine);
    expect(last.body.toString()).toBe(direct.body.toString().replace('"direct"', '"k"'));
    expect(names(direct)).toEqual(['X-Origin', 'Content-Type', 'Content-Length', 'x-tail', 'Date', 'Connection', 'Keep-Alive']);
    expect(names(last)).toEqual(['X-Origin', 'Content-Type', 'Content-Length', 'x-tail', 'Date', 'Connection']);
    expect(header(last, 'connection')).toBe('close');
    await k.closed; // then the connection is closed: the client stops sending
    expect(k.leftover).toBe(0);

    // Pipelined: the first answer stays keep-alive (another request waits behind it), the last says close.
    origin.release('p1');
    expect(JSON.parse((await p1).body.toString())).toMatchObject({ id: 'p1' });
    expect(header(await p1, 'connection')).toBe('keep-alive');
    origin.release('p2');
    expect(JSON.parse((await p2).body.toString())).toMatchObject({ id: 'p2' });
    expect(header(await p2, 'connection')).toBe('close');
    await pipe.closed;
    expect(pipe.leftover).toBe(0);

    // The module's answer (no Connection header of its own): Node appends Connection: close.
    releaseModule();
    const m = await modReply;
    expect(m.body.toString()).toBe('{"side":"mg"}');
    expect(names(m)).toEqual(['Content-Type', 'Content-Length', 'Date', 'Connection']);
    expect(header(m, 'connection')).toBe('close');
    await mod.closed;

    // The stream started before the drain finishes whole; its connection is closed right after.
    expect(closedAt).toBe(0);
    origin.release('s');
    const s = await sseReply;
    expect(s.body.toString()).toBe('data: {"n":1}\n\ndata: {"n":2}\n\nevent: done\ndata: {"n":3}\n\n');
    expect(header(s, 'connection')).toBe('keep-alive'); // sent before the drain began
    await sse.closed;
    expect(sse.leftover).toBe(0);

    await closing; // as soon as nothing is in flight (GATEWAY_DRAIN_TIMEOUT_MS is 20 s)
    expect(gw.inFlight()).toBe(0);
    // Every request reached the legacy once; none was lost or repeated.
    expect(origin.seen.filter((u) => u !== '/hold/direct').sort()).toEqual(
      ['/fast/0', '/fast/1', '/fast/2', '/fast/idle', '/sse/s', '/hold/p1', '/hold/p2', '/hold/k'].sort(),
    );
  });
});
