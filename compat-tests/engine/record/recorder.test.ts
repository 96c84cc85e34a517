import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { startMockUpstream, type MockUpstream } from '../../mock-upstream/server.js';
import { decodeBytes } from '../format/bytes.js';
import { parseExchange } from '../format/exchange.js';
import { recordExchange, type RecorderTarget } from './recorder.js';
import { concretize } from './scenarios.js';

/**
 * A tiny stand-in backend: calls the mock upstream, streams the answer back in two chunks,
 * and writes Redis 150 ms AFTER the response ended (as the legacy records usage late).
 */
describe('recorder', () => {
  let redis: PrivateRedis;
  let mock: MockUpstream;
  let backend: Server;
  let base: string;
  const seen: Array<{ rawHeaders: string[] }> = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    mock = await startMockUpstream({ settings: { chunkDelayMs: 0 } });
    const client = redis.client();
    await client.set('pre', 'existing');
    backend = createServer((req, res) => {
      seen.push({ rawHeaders: req.rawHeaders });
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const up = request(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (ur) => {
          const body: Buffer[] = [];
          ur.on('data', (c: Buffer) => body.push(c));
          ur.on('end', () => {
            const all = Buffer.concat(body);
            res.writeHead(200, ['X-One', '1', 'Content-Type', 'application/json']);
            res.write(all.subarray(0, 10));
            setTimeout(() => {
              res.end(all.subarray(10));
              setTimeout(() => void client.hset('usage:late', 'requests', '1').then(() => client.expire('usage:late', 600)), 150);
            }, 20);
          });
        });
        up.end(Buffer.concat(parts));
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => backend.close(() => r()));
    await mock.close();
    await redis.stop();
  });

  it('records request bytes, chunked answer, late Redis writes and the upstream exchange', async () => {
    const target: RecorderTarget = {
      base,
      redis: redis.client(),
      pg: null,
      mock: mock.url,
      timezoneOffsetHours: 8,
      settleMs: 50,
      settleMaxMs: 3000,
      origin: 'test',
    };
    const req = concretize(
      {
        name: 'x1',
        method: 'POST',
        path: '/api/v1/messages?x=${Q}',
        headers: { 'X-Api-Key': '${KEY}', 'content-type': 'application/json' },
        body: { model: 'claude-sonnet-4-5-20250929', messages: [{ role: 'user', content: 'hi ${KEY}' }] },
      },
      { KEY: 'cr_abc', Q: '1' },
      {},
    );
    const ex = parseExchange(JSON.parse(JSON.stringify(await recordExchange(target, req))), 'recorded');
    expect(ex.request.path).toBe('/api/v1/messages?x=1');
    expect(ex.request.rawHeaders.slice(0, 2)).toEqual(['X-Api-Key', 'cr_abc']);
    expect(seen.at(-1)!.rawHeaders.slice(0, 2)).toEqual(['X-Api-Key', 'cr_abc']);
    expect(decodeBytes(ex.request.body).toString()).toContain('hi cr_abc');
    expect(ex.response.status).toBe(200);
    expect(ex.response.rawHeaders.slice(0, 4)).toEqual(['X-One', '1', 'Content-Type', 'application/json']);
    expect(ex.response.chunks.map((c) => c.bytes)[0]).toBe(10);
    expect(decodeBytes(ex.response.body).toString()).toMatch(/^\{"id":"msg_mock_/);
    expect(ex.redis.before).toEqual({ pre: { type: 'string', ttl: -1, value: 'existing' } });
    expect(ex.redis.after['usage:late']).toMatchObject({ type: 'hash', value: { requests: '1' } });
    expect(ex.redis.after['usage:late']!.ttl).toBeGreaterThan(590);
    expect(ex.upstream).toHaveLength(1);
    expect(ex.upstream[0]!.response.status).toBe(200);
    expect(decodeBytes(ex.upstream[0]!.response.body!).equals(decodeBytes(ex.response.body))).toBe(true);
  });

  it('refuses a scenario whose variable is missing', () => {
    expect(() => concretize({ name: 'x', method: 'GET', path: '/${NOPE}', headers: {} }, {}, {})).toThrow(/NOPE/);
  });
});
