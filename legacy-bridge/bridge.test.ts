import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../gateway/create.js';
import { startTestGateway } from '../gateway/testing/gateway.js';
import { patternBytes, startOrigin, type Origin } from '../gateway/testing/origin.js';
import { rawExchange } from '../gateway/testing/raw-http.js';
import { freePort } from '../test-support/free-port.js';

let origin: Origin;
let gw: Gateway;

beforeAll(async () => {
  origin = await startOrigin();
  gw = await startTestGateway(origin.url);
});
afterAll(async () => {
  await gw?.close();
  await origin?.close();
});

const get = (port: number, path: string) => rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nConnection: close\r\n\r\n`);

/** Headers that legitimately differ between two responses (Date is a clock reading). */
const withoutDate = (raw: string[]) => raw.filter((_, i) => i % 2 === 1 ? raw[i - 1]!.toLowerCase() !== 'date' : raw[i]!.toLowerCase() !== 'date');

describe('legacy bridge pass-through', () => {
  it.each([0, 1, 1000, 65_536 + 7, 1024 * 1024, 10 * 1024 * 1024])('passes %i bytes byte-identical with the same head', async (n) => {
    const direct = await get(origin.port, `/bytes/${n}`);
    const via = await get(gw.dataPort, `/bytes/${n}`);
    expect(via.statusLine).toBe(direct.statusLine);
    expect(withoutDate(via.rawHeaders)).toEqual(withoutDate(direct.rawHeaders));
    expect(via.body.length).toBe(n);
    expect(via.body.equals(patternBytes(n))).toBe(true);
  });

  it('keeps header names, casing and order exactly (incl. Connection/Keep-Alive from the origin)', async () => {
    const via = await get(gw.dataPort, '/bytes/3');
    const names = via.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names).toEqual(['X-Origin-Case', 'content-type', 'Content-Length', 'x-last', 'Date', 'Connection']);
  });

  it('keeps the legacy keep-alive headers for a keep-alive client and reuses the connection', async () => {
    const req = (port: number) =>
      rawExchange(port, `GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const direct = await req(origin.port);
    const via = await req(gw.dataPort);
    // Two pipelined responses on one connection: the first keeps Connection: keep-alive + Keep-Alive.
    const heads = (r: Awaited<ReturnType<typeof req>>) => Buffer.concat([Buffer.from(r.head + '\r\n\r\n'), r.wireBody]).toString('latin1').replace(/Date: [^\r]+/g, 'Date: -');
    expect(heads(via)).toBe(heads(direct));
    expect(heads(via)).toMatch(/Connection: keep-alive\r\nKeep-Alive: timeout=605\r\n/);
    expect(heads(via)).toMatch(/Connection: close\r\n\r\n/);
  });

  it("a client that asks to close: the legacy sees its Connection: close and the client gets the legacy's own answer to it", async () => {
    // The legacy forwards the client's Connection upstream and copies the upstream's answer (official relay):
    // the hop must carry the client's `close`, or the client is told keep-alive and reuses a closing socket.
    const req = 'GET /relayed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const direct = await rawExchange(origin.port, req, { sizedBody: true });
    const via = await rawExchange(gw.dataPort, req, { sizedBody: true });
    expect(withoutDate(via.rawHeaders)).toEqual(withoutDate(direct.rawHeaders));
    expect(via.rawHeaders).toContain('close');
    expect(via.rawHeaders).not.toContain('timeout=65');
    expect(via.body.toString()).toBe('{}');
    const seen = origin.seen.filter((s) => s.url === '/relayed').at(-1)!;
    expect(seen.rawHeaders[seen.rawHeaders.findIndex((h) => h.toLowerCase() === 'connection') + 1]).toBe('close');
  });

  it('close-asking clients one after another on an SSE route the legacy answers keep-alive: no pooled socket reused (no bare 400)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      // agent: false sends Connection: close; the answer is chunked, so it ends without the socket closing.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ port: gw.dataPort, host: '127.0.0.1', path: '/sse/2/1', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      statuses.push(status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it("a keep-alive client keeps the legacy handler's keep-alive answer", async () => {
    const req = 'GET /relayed HTTP/1.1\r\nHost: x\r\n\r\nGET /bytes/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const via = await rawExchange(gw.dataPort, req);
    expect(via.head).toContain('connection: keep-alive\r\nkeep-alive: timeout=65');
  });

  it('answers HEAD with the legacy head and no body', async () => {
    const direct = await rawExchange(origin.port, 'HEAD /bytes/100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const via = await rawExchange(gw.dataPort, 'HEAD /bytes/100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(withoutDate(via.rawHeaders)).toEqual(withoutDate(direct.rawHeaders));
    expect(via.wireBody.length).toBe(0);
  });

  it('adds X-Gateway-Route / X-Gateway-Side only when GATEWAY_DEBUG_HEADERS is on', async () => {
    const g = await startTestGateway(origin.url, { env: { GATEWAY_DEBUG_HEADERS: 'true' }, table: { routes: [{ id: 'b', paths: ['/bytes/*'], mode: 'legacy' }] } });
    try {
      const res = await get(g.dataPort, '/bytes/5');
      expect(res.rawHeaders.slice(-4)).toEqual(['X-Gateway-Route', 'b', 'X-Gateway-Side', 'legacy']);
      expect(res.body.equals(patternBytes(5))).toBe(true);
    } finally {
      await g.close();
    }
  });

  it('passes chunked bodies with chunked framing', async () => {
    const direct = await get(origin.port, '/chunked/5000');
    const via = await get(gw.dataPort, '/chunked/5000');
    expect(withoutDate(via.rawHeaders)).toEqual(withoutDate(direct.rawHeaders));
    expect(via.body.equals(direct.body)).toBe(true);
    expect(via.body.equals(patternBytes(5000, 11))).toBe(true);
  });

  it('streams request bodies and forwards method, path, query; a trusted (loopback) peer\'s X-Forwarded-For goes on as sent', async () => {
    const body = patternBytes(300_000, 3);
    const res = await fetch(`http://127.0.0.1:${gw.dataPort}/echo//a%20b/?q=1&q=2`, { method: 'POST', body, headers: { 'X-Forwarded-For': '10.0.0.9' } });
    const echo = (await res.json()) as { method: string; url: string; rawHeaders: string[]; length: number; sum: number };
    let sum = 0;
    for (const byte of body) sum = (sum * 31 + byte) >>> 0;
    expect(echo.method).toBe('POST');
    expect(echo.url).toBe('/echo//a%20b/?q=1&q=2');
    expect(echo.length).toBe(body.length);
    expect(echo.sum).toBe(sum);
    const h = Object.fromEntries(echo.rawHeaders.flatMap((v, i, a) => (i % 2 === 0 ? [[v.toLowerCase(), a[i + 1]]] : [])));
    // GATEWAY_TRUSTED_PROXIES defaults to loopback: nothing added (client-address.test.ts: the untrusted case).
    expect(h['x-real-ip']).toBeUndefined();
    expect(h['x-forwarded-for']).toBe('10.0.0.9');
    expect(h['x-forwarded-proto']).toBeUndefined();
    expect(h['host']).toBe(`127.0.0.1:${gw.dataPort}`);
  });

  it('delivers the first SSE event before the origin finishes the stream', async () => {
    const started = performance.now();
    const { firstAt, endAt, text } = await new Promise<{ firstAt: number; endAt: number; text: string }>((resolve, reject) => {
      const req = request({ port: gw.dataPort, host: '127.0.0.1', path: '/sse/6/150' }, (res) => {
        let firstAt = 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (!firstAt) firstAt = performance.now() - started;
          text += d;
        });
        res.on('end', () => resolve({ firstAt, endAt: performance.now() - started, text }));
      });
      req.on('error', reject);
      req.end();
    });
    // The origin needs ~750 ms for the whole stream; the first event must arrive long before the end
    // (relative, so a busy machine that delays both does not matter).
    expect(endAt).toBeGreaterThan(700);
    expect(endAt - firstAt).toBeGreaterThan(500);
    expect(text.startsWith('data: {"n":1}\n\n')).toBe(true);
    expect(text.endsWith('event: done\ndata: {"n":6}\n\n')).toBe(true);
  });

  it('aborts the origin request when the client disconnects', async () => {
    const aborted = origin.nextAbort();
    const req = request({ port: gw.dataPort, host: '127.0.0.1', path: '/sse/1000/50' }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => {});
    req.end();
    await expect(aborted).resolves.toBe('/sse/1000/50');
  });
});

describe('legacy failures', () => {
  it.each(['/cut/1000', '/cut/1000?chunked'])('a legacy that drops %s mid-body never looks complete to the client', async (path) => {
    const res = await get(gw.dataPort, path);
    expect(res.statusLine).toBe('HTTP/1.1 200 OK');
    const chunked = path.includes('chunked');
    if (chunked) expect(res.wireBody.toString('latin1').endsWith('0\r\n\r\n')).toBe(false);
    else expect(res.body.length).toBeLessThan(2000);
    expect(res.body.subarray(0, 1000).equals(patternBytes(1000))).toBe(true);
  });

  it('answers 502 in the legacy error shape when the legacy is down, and counts it', async () => {
    const dead = await freePort();
    const g = await startTestGateway(`http://127.0.0.1:${dead}`);
    try {
      const res = await get(g.dataPort, '/api/v1/models');
      expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
      const body = JSON.parse(res.body.toString()) as Record<string, string>;
      expect(Object.keys(body)).toEqual(['error', 'message', 'timestamp']);
      expect(body.error).toBe('Bad Gateway');
      expect(res.rawHeaders.slice(0, 2)).toEqual(['Content-Type', 'application/json; charset=utf-8']);
      expect(g.metrics.errors.get({ route: '(default)', side: 'legacy', kind: 'legacy_unreachable' })).toBe(1);
    } finally {
      await g.close();
    }
  });

  it('answers 504 when the legacy does not answer within LEGACY_TIMEOUT_MS', async () => {
    const g = await startTestGateway(origin.url, { env: { LEGACY_TIMEOUT_MS: '200' } });
    try {
      const aborted = origin.nextAbort();
      const res = await get(g.dataPort, '/hang');
      expect(res.statusLine).toBe('HTTP/1.1 504 Gateway Timeout');
      expect(JSON.parse(res.body.toString()).error).toBe('Gateway Timeout');
      await expect(aborted).resolves.toBe('/hang');
      // Silent mid-body for as long: the client connection is closed, the legacy request aborted.
      const abortedStream = origin.nextAbort();
      const res2 = await get(g.dataPort, '/sse/3/60000');
      expect(res2.statusLine).toBe('HTTP/1.1 200 OK');
      expect(res2.body.toString()).toBe('data: {"n":1}\n\n');
      expect(res2.wireBody.toString('latin1').endsWith('0\r\n\r\n')).toBe(false);
      await expect(abortedStream).resolves.toBe('/sse/3/60000');
      expect(g.metrics.errors.get({ route: '(default)', side: 'legacy', kind: 'legacy_timeout' })).toBe(2);
    } finally {
      await g.close();
    }
  });
});

/** Streamed (chunked) answers: the last chunk and the terminator leave together, and a slow reader still gets all. */
describe('legacy bridge, streamed answers', () => {
  it('a client that stops reading while the whole answer is in, then reads slowly: nothing is held back', async () => {
    const n = 3 * 1024 * 1024;
    const body = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: gw.dataPort, path: `/chunked/${n}` }, (res) => {
        expect(res.headers['transfer-encoding']).toBe('chunked');
        res.pause();
        const chunks: Buffer[] = [];
        // Let the origin finish while the gateway's writes to this client are backed up.
        // Then read slowly (a pause after every chunk), so the gateway's writes keep backing up to the end.
        setTimeout(() => {
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            res.pause();
            setTimeout(() => res.resume(), 2);
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.resume();
        }, 300);
      });
      req.on('error', reject);
      req.end();
    });
    expect(body.length).toBe(n);
    expect(body.equals(patternBytes(n, 11))).toBe(true);
  });

  it('SSE stream framing is byte-identical to the origin, terminator included', async () => {
    const exchange = (port: number) => rawExchange(port, 'GET /sse/4/5 HTTP/1.1\r\nHost: x\r\n\r\n', { sizedBody: true });
    const direct = await exchange(origin.port);
    const via = await exchange(gw.dataPort);
    expect(via.wireBody.toString('latin1')).toBe(direct.wireBody.toString('latin1'));
    expect(via.wireBody.toString('latin1').endsWith('0\r\n\r\n')).toBe(true);
  });
});
