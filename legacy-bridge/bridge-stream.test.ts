import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../gateway/create.js';
import { startTestGateway } from '../gateway/testing/gateway.js';
import { patternBytes, startOrigin, type Origin } from '../gateway/testing/origin.js';
import { rawExchange } from '../gateway/testing/raw-http.js';

/** Streamed (chunked) answers: the last chunk and the terminator leave together, and a slow reader still gets all. */

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
