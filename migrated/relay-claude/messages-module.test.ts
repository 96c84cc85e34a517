import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../compat-tests/mock-upstream/server.js';
import { legacyTracesDir } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, OAUTH_ACCOUNT, serveRelay, type RelayHarness } from './relay-harness.test-helper.js';

const STATE = JSON.parse(readFileSync(join(legacyTracesDir, '07-messages-nonstream-console', 'redis.before.json'), 'utf8')) as RedisSnapshot;
const AT = Date.parse('2026-11-26T11:52:04.000Z');

let server: PrivateRedis;
let redis: Redis;
let mock: MockUpstream;
beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  mock = await startMockUpstream({ settings: { chunkDelayMs: 0, splitDelayMs: 0, latencyMs: 0 } });
});
afterAll(async () => {
  await mock.close();
  redis.disconnect();
  await server.stop();
});
beforeEach(async () => {
  await loadRedisSnapshot(redis, STATE);
});

const json = (key: string, extra: Array<[string, string]> = []): Array<[string, string]> => [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', key],
  ['content-type', 'application/json'],
  ...extra,
];

async function withRelay<T>(fn: (h: RelayHarness) => Promise<T>, upstream = mock.url): Promise<T> {
  const h = await serveRelay(createClaudeMessagesModule, redis, { atMs: AT, upstreamOverride: upstream });
  try {
    return await fn(h);
  } finally {
    await h.close();
  }
}

const lastSeq = () => mock.requests().at(-1)?.seq ?? 0;
const usageKeys = async () => (await redis.keys('usage:*')).sort();

describe('edge validation: malformed bodies get the legacy error and touch nothing', () => {
  const cases: Array<[string, string, number, unknown]> = [
    ['no messages', '{"model":"claude-sonnet-4-5"}', 400, { error: 'Invalid request', message: 'Missing or invalid field: messages (must be an array)' }],
    ['messages not an array', '{"messages":{"role":"user"}}', 400, { error: 'Invalid request', message: 'Missing or invalid field: messages (must be an array)' }],
    ['empty messages', '{"messages":[]}', 400, { error: 'Invalid request', message: 'Messages array cannot be empty' }],
    ['array body', '[1,2]', 400, { error: 'Invalid request', message: 'Missing or invalid field: messages (must be an array)' }],
  ];
  for (const [name, raw, status, body] of cases) {
    it(name, async () => {
      await withRelay(async (h) => {
        const seq = lastSeq();
        const before = await usageKeys();
        const res = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.console), raw);
        expect(res.status).toBe(status);
        expect(JSON.parse(res.body.toString())).toEqual(body);
        expect(lastSeq()).toBe(seq);
        expect(await usageKeys()).toEqual(before);
      });
    });
  }

  it('non-string metadata.user_id: the legacy 500 (its session hash throws), nothing upstream', async () => {
    await withRelay(async (h) => {
      const seq = lastSeq();
      const res = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.pool), '{"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":5}}');
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'Relay service error', message: 'userIdString.match is not a function' });
      expect(lastSeq()).toBe(seq);
    });
  });

  it('malformed JSON is answered by the body parser (400) before auth', async () => {
    await withRelay(async (h) => {
      const seq = lastSeq();
      const res = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.console), '{"messages": [');
      expect(res.status).toBe(400);
      expect(lastSeq()).toBe(seq);
    });
  });
});

describe('upstream failures', () => {
  it('official account, connection refused → 502 Upstream service unavailable; console → 500 with the raw message', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    await withRelay(async (h) => {
      const body = '{"model":"claude-sonnet-4-5-20250929","max_tokens":10,"messages":[{"role":"user","content":"x"}]}';
      const official = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.oauth), body);
      expect(official.status).toBe(502);
      expect(JSON.parse(official.body.toString())).toMatchObject({ error: 'Upstream service unavailable', message: 'Connection refused by Claude API server' });
      const consoleRes = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.console), body);
      expect(consoleRes.status).toBe(500);
      expect(JSON.parse(consoleRes.body.toString())).toMatchObject({ error: 'Relay service error', message: `connect ECONNREFUSED 127.0.0.1:${port}` });
    }, `http://127.0.0.1:${port}`);
  });

  it('upstream dies in the middle of a JSON body → console 500 (axios wording), official 502; no hang, no usage', async () => {
    const broken = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
        res.write('{"id":"msg_x","usage":{"input_tokens":');
        setTimeout(() => res.socket?.destroy(), 20);
      });
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    try {
      await withRelay(async (h) => {
        const before = await usageKeys();
        for (const key of [KEYS.console, KEYS.oauth]) {
          const res = await send(h.port, 'POST', '/api/v1/messages', json(key), '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"x"}]}');
          const expected = key === KEYS.console ? [500, 'Relay service error', 'stream has been aborted'] : [502, 'Upstream connection error', 'Connection reset by Claude API server'];
          const body = JSON.parse(res.body.toString()) as { error: string; message: string };
          expect([res.status, body.error, body.message]).toEqual(expected);
        }
        expect(await usageKeys()).toEqual(before);
      }, url);
    } finally {
      broken.closeAllConnections();
      await new Promise((r) => broken.close(r));
    }
  });

  it('dedicated OAuth stream 429 → 403 JSON, the account is marked; a client closing afterwards crashes nothing (legacy exchange 32)', async () => {
    await withRelay(async (h) => {
      // the mock answers 429 for a model containing "mock-429" (headers are whitelisted for official accounts)
      const body = '{"model":"claude-sonnet-mock-429","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}';
      const res = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.oauth), body);
      expect(res.status).toBe(403);
      expect(res.rawHeaders).toContain('Content-Type: application/json');
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: 'upstream_rate_limited' });
      expect(await redis.hget(`claude:account:${OAUTH_ACCOUNT}`, 'rateLimitStatus')).toBe('limited');
      // a client that drops the connection right after the 403, then a normal request on the same server
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/api/v1/messages', headers: { 'x-api-key': KEYS.oauth, 'content-type': 'application/json' } }, (r) => {
          r.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.end(body);
      });
      await new Promise((r) => setTimeout(r, 50));
      const next = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.console), '{"model":"claude-sonnet-4-5-20250929","max_tokens":10,"messages":[{"role":"user","content":"after"}]}');
      expect(next.status).toBe(200);
      expect(h.failures).toEqual([]);
    });
  });

  it('console concurrency full on the bound account → one retry, then 503 service_unavailable', async () => {
    await redis.hset(`claude_console_account:${CONSOLE_ACCOUNT}`, 'maxConcurrentTasks', '1');
    await redis.zadd(`concurrency:console_account:${CONSOLE_ACCOUNT}`, AT + 60_000, 'someone-else');
    await withRelay(async (h) => {
      const seq = lastSeq();
      const res = await send(h.port, 'POST', '/api/v1/messages', json(KEYS.console), '{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"x"}]}');
      expect(res.status).toBe(503);
      expect(JSON.parse(res.body.toString())).toEqual({
        error: 'service_unavailable',
        message: 'All available Claude Console accounts have reached their concurrency limit. Please try again later.',
      });
      expect(lastSeq()).toBe(seq);
      expect(await redis.zrange(`concurrency:console_account:${CONSOLE_ACCOUNT}`, '0', '-1')).toEqual(['someone-else']);
    });
  });
});

describe('client disconnect mid-stream', () => {
  let origin: Server;
  let originUrl: string;
  let upstreamClosedEarly = 0;
  beforeAll(async () => {
    origin = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(
          'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":321,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n',
        );
        let n = 0;
        const t = setInterval(() => {
          if (n++ > 200) {
            clearInterval(t);
            res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
            return;
          }
          res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"zz"}}\n\n');
        }, 5);
        res.on('close', () => {
          clearInterval(t);
          if (!res.writableFinished) upstreamClosedEarly++;
        });
      });
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
  });

  for (const [name, key, accountId] of [
    ['console', KEYS.console, CONSOLE_ACCOUNT],
    ['official', KEYS.oauth, OAUTH_ACCOUNT],
  ] as const) {
    it(`${name}: the upstream is stopped and the input tokens seen are recorded`, async () => {
      const closedBefore = upstreamClosedEarly;
      await withRelay(async (h) => {
        await new Promise<void>((resolve) => {
          const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/api/v1/messages', headers: { 'x-api-key': key, 'content-type': 'application/json' } }, (r) => {
            let chunks = 0;
            r.on('data', () => {
              if (++chunks === 3) {
                req.destroy();
                resolve();
              }
            });
          });
          req.end('{"model":"claude-sonnet-4-5-20250929","stream":true,"messages":[{"role":"user","content":"long please"}]}');
        });
        const deadline = Date.now() + 2000;
        while (upstreamClosedEarly === closedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(upstreamClosedEarly).toBe(closedBefore + 1);
        await new Promise((r) => setTimeout(r, 100));
        const records = await redis.keys('usage:records:*');
        const all = (await Promise.all(records.map((k) => redis.lrange(k, 0, -1)))).flat().map((r) => JSON.parse(r) as { inputTokens: number; outputTokens: number; accountId: string });
        expect(all.some((r) => r.inputTokens === 321 && r.outputTokens === 0 && r.accountId === accountId)).toBe(true);
        expect(h.failures).toEqual([]);
      }, originUrl);
    });
  }
});
