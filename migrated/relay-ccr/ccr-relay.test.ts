import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { CCR_ID, POOL_KEY_ID, headerOf as hdr, labCipher as cipher, storeCcr as storeCcrIn } from '../relay-bedrock/provider-accounts.test-helper.js';
import createClaudeMessagesModule from '../relay-claude/messages-module.js';
import { KEYS, type RelayHarness } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';

/** The claude-messages module with `ccr,` models (unbound pool key of trace 07 + one shared CCR account), upstream = the mock. */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const AT_ISO = new Date(AT).toISOString();
const f = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT, seed: (redis) => storeCcrIn(redis) });

const withRelay = <T>(fn: (h: RelayHarness) => Promise<T>, upstream?: string) => f.withRelay(createClaudeMessagesModule, fn, { upstream });
const storeCcr = (extra: Record<string, string>) => storeCcrIn(f.redis, extra);
const since = f.mark;
const upstreamAfter = f.upstreamAfter;

const headers: Array<[string, string]> = [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', KEYS.pool],
  ['content-type', 'application/json'],
  ['user-agent', 'claude-cli/2.0.52 (external, cli)'],
  ['anthropic-beta', 'oauth-2025-04-20'],
  ['x-stainless-os', 'Linux'],
];
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('CCR relay, non-stream', () => {
  it('strips the ccr, prefix, maps the model, sends the CCR headers to the account apiUrl; passes the answer; records usage, lastUsedAt and the sticky mapping', async () => {
    await withRelay(async (h) => {
      const seq = since();
      const body = { model: 'ccr,claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hello ccr' }] };
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify(body));
      expect(res.status).toBe(200);
      const up = upstreamAfter(seq);
      expect(up).toHaveLength(1);
      expect(up[0]!.url).toBe('/v1/messages');
      expect(up[0]!.bodyRaw).toBe(JSON.stringify({ ...body, model: 'claude-sonnet-4-5-20250929' }));
      const raw = up[0]!.rawHeaders;
      const pairs: string[] = [];
      for (let i = 0; i < raw.length; i += 2) pairs.push(`${raw[i]}: ${raw[i + 1]}`);
      expect(pairs).toEqual([
        'Accept: application/json, text/plain, */*',
        'Content-Type: application/json',
        'anthropic-version: 2023-06-01',
        'User-Agent: claude-cli/2.0.52 (external, cli)',
        'anthropic-beta: oauth-2025-04-20',
        'Authorization: Bearer ccr-key-123',
        `Content-Length: ${Buffer.byteLength(up[0]!.bodyRaw)}`,
        'Accept-Encoding: gzip, compress, deflate, br',
        'Host: ccr.example.com',
        'Connection: keep-alive',
      ]);
      const json = JSON.parse(res.body.toString()) as { model: string; usage: { input_tokens: number; output_tokens: number } };
      expect(json.model).toBe('claude-sonnet-4-5-20250929');
      await settle();
      const u = await f.redis.hgetall(`usage:${POOL_KEY_ID}:model:daily:claude-sonnet-4-5-20250929:2026-11-26`);
      expect(u['inputTokens']).toBe(String(json.usage.input_tokens));
      expect(u['outputTokens']).toBe(String(json.usage.output_tokens));
      expect(await f.redis.hget(`ccr_account:${CCR_ID}`, 'lastUsedAt')).toBe(AT_ISO);
      const mappings = await f.redis.keys('unified_claude_session_mapping:*');
      const values = await Promise.all(mappings.map((k) => f.redis.get(k)));
      expect(values).toContain(JSON.stringify({ accountId: CCR_ID, accountType: 'ccr' }));
    });
  });

  it('sk-ant- keys go as x-api-key; the account User-Agent wins', async () => {
    await storeCcr({ apiKey: cipher.encrypt('ccr', 'sk-ant-api03-xyz'), userAgent: 'my-ccr/1.0' });
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,other-model', messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(200);
      const up = upstreamAfter(seq)[0]!;
      expect(up.headers['x-api-key']).toBe('sk-ant-api03-xyz');
      expect(up.headers['authorization']).toBeUndefined();
      expect(up.headers['user-agent']).toBe('my-ccr/1.0');
      expect(JSON.parse(up.bodyRaw).model).toBe('other-model');
    });
  });

  it('429: passed through unsanitised, account marked rate-limited; the next request finds no CCR account', async () => {
    await withRelay(async (h) => {
      const body = JSON.stringify({ model: 'ccr,mock-429', messages: [{ role: 'user', content: 'limit me' }] });
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, body);
      expect(res.status).toBe(429);
      expect(JSON.parse(res.body.toString())).toHaveProperty('error');
      const acc = await f.redis.hgetall(`ccr_account:${CCR_ID}`);
      expect(acc).toMatchObject({ status: 'rate_limited', rateLimitedAt: AT_ISO, rateLimitStatus: 'active', errorMessage: 'Rate limited by upstream service', lastUsedAt: AT_ISO });
      const again = await send(h.port, 'POST', '/api/v1/messages', headers, body);
      expect(again.status).toBe(500);
      expect(JSON.parse(again.body.toString())).toMatchObject({ error: 'Relay service error', message: 'No available CCR accounts support the requested model: mock-429' });
    });
  });

  it('rateLimitDuration 0 disables the rate-limit mark', async () => {
    await storeCcr({ rateLimitDuration: '0' });
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,mock-429', messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(429);
      expect(await f.redis.hget(`ccr_account:${CCR_ID}`, 'status')).toBe('active');
    });
  });
});

describe('CCR relay, stream', () => {
  it('forwards the SSE lines, adds the CCR CORS header, records the message_delta usage via the details recorder', async () => {
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'stream ccr' }] }));
      expect(res.status).toBe(200);
      const up = upstreamAfter(seq)[0]!;
      const upstreamText = Buffer.from(up.response.bodyBase64, 'base64').toString('utf8');
      expect(res.body.toString()).toBe(upstreamText);
      expect(hdr(res, 'access-control-allow-headers')).toBe('Cache-Control');
      expect(hdr(res, 'content-type')).toBe('text/event-stream');
      await settle();
      const delta = upstreamText.split('\n').find((l) => l.includes('"message_delta"'))!;
      const usage = (JSON.parse(delta.slice(6)) as { usage: { input_tokens: number; output_tokens: number } }).usage;
      const u = await f.redis.hgetall(`usage:${POOL_KEY_ID}:model:daily:claude-sonnet-4-5-20250929:2026-11-26`);
      expect(u['inputTokens']).toBe(String(usage.input_tokens));
      expect(u['outputTokens']).toBe(String(usage.output_tokens));
      expect(await f.redis.hget(`ccr_account:${CCR_ID}`, 'lastUsedAt')).toBe(AT_ISO);
    });
  });

  it('401 on a stream: status and body passed through, account marked unauthorized', async () => {
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,mock-401', stream: true, messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString())).toHaveProperty('error');
      // recorded (legacy-providers/ccr-stream-error-401): upstream's JSON type, so compression adds Vary last
      expect(res.rawHeaders.map((l) => l.slice(0, l.indexOf(':'))).slice(-4)).toEqual(['X-Accel-Buffering', 'Vary', 'Date', 'Transfer-Encoding']);
      await settle();
      expect(await f.redis.hgetall(`ccr_account:${CCR_ID}`)).toMatchObject({ status: 'unauthorized', errorMessage: 'API key invalid or unauthorized' });
    });
  });

  it('unreachable CCR upstream on a stream: 500 with the legacy SSE error line', async () => {
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(500);
      expect(hdr(res, 'content-type')).toBe('application/json');
      expect(hdr(res, 'vary')).toBe('Accept-Encoding');
      expect(res.body.toString()).toBe('data: {"error":{"type":"internal_error","message":"CCR API request failed"}}\n\n');
    }, 'http://127.0.0.1:1');
  });

  it('client leaves mid-stream: the upstream is stopped, the handler settles without error, nothing recorded before message_delta', async () => {
    f.mock.settings.chunkDelayMs = 150;
    try {
      await withRelay(async (h) => {
        const before = (await f.redis.keys(`usage:${POOL_KEY_ID}*`)).sort();
        await new Promise<void>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/api/v1/messages', agent: false }, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', () => undefined);
          for (const [k, v] of headers) req.setHeader(k, v);
          req.end(JSON.stringify({ model: 'ccr,claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'a long answer please' }] }));
          setTimeout(() => reject(new Error('no data')), 3000);
        });
        for (let i = 0; i < 100 && h.settled < 1; i++) await new Promise((r) => setTimeout(r, 20));
        expect(h.settled).toBe(1);
        expect(h.failures).toEqual([]);
        expect((await f.redis.keys(`usage:${POOL_KEY_ID}*`)).sort()).toEqual(before);
      });
    } finally {
      f.mock.settings.chunkDelayMs = 0;
    }
  });
});
