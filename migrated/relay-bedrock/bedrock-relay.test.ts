import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import createClaudeMessagesModule from '../relay-claude/messages-module.js';
import { KEYS, type RelayHarness } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { MISSING_CREDENTIALS } from './bedrock-clients.js';
import { BEDROCK_ID, POOL_KEY_ID, bedrockAccount, headerOf as hdr, storeBedrock } from './provider-accounts.test-helper.js';

/** The claude-messages module serving a key bound to a Bedrock account (trace 07 state + the account), upstream = the mock. */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const f = useRelayFixture({
  trace: '07-messages-nonstream-console',
  atMs: AT,
  seed: async (redis) => {
    await redis.hset(`apikey:${POOL_KEY_ID}`, 'bedrockAccountId', BEDROCK_ID);
    await storeBedrock(redis);
  },
});
// the relay reads the gateway config, never process.env: these must not count as "env credentials"
beforeAll(() => {
  process.env['AWS_ACCESS_KEY_ID'] = 'AKIAPROCESSENV';
  process.env['AWS_SECRET_ACCESS_KEY'] = 'process-env-secret';
});
afterAll(() => {
  delete process.env['AWS_ACCESS_KEY_ID'];
  delete process.env['AWS_SECRET_ACCESS_KEY'];
});

const withRelay = <T>(fn: (h: RelayHarness) => Promise<T>) => f.withRelay(createClaudeMessagesModule, fn);
const storeAccount = (account: Record<string, unknown>) => storeBedrock(f.redis, account);
const since = f.mark;
const upstreamAfter = f.upstreamAfter;

const headers: Array<[string, string]> = [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', KEYS.pool],
  ['content-type', 'application/json'],
];
const dailyModelUsage = (model: string) => f.redis.hgetall(`usage:${POOL_KEY_ID}:model:daily:${model}:2026-11-26`);

describe('Bedrock relay, non-stream', () => {
  it('calls InvokeModel with the mapped id, region and decrypted credentials; answers the converted message; records usage', async () => {
    await withRelay(async (h) => {
      const seq = since();
      const reqBody = { model: 'claude-sonnet-4-20250514', max_tokens: 9000, metadata: { user_id: 'u' }, temperature: 0.2, system: 'be brief', messages: [{ role: 'user', content: 'hello bedrock' }] };
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify(reqBody));
      expect(res.status).toBe(200);
      const up = upstreamAfter(seq);
      expect(up).toHaveLength(1);
      expect(up[0]!.url).toBe('/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke');
      // legacy payload: key order, max_tokens capped at 4096, metadata dropped
      expect(up[0]!.bodyRaw).toBe(JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 4096, messages: reqBody.messages, system: 'be brief', temperature: 0.2 }));
      const auth = String(up[0]!.headers['authorization']);
      expect(auth).toContain('Credential=AKIALABTEST0001/');
      expect(auth).toContain('/us-west-2/bedrock/aws4_request');
      expect(up[0]!.headers['x-amz-security-token']).toBe('lab-session');
      const json = JSON.parse(res.body.toString()) as Record<string, unknown>;
      expect(Object.keys(json)).toEqual(['id', 'type', 'role', 'content', 'model', 'stop_reason', 'stop_sequence', 'usage']);
      expect(json['id']).toBe(`msg_${AT}_bedrock`);
      expect(json['model']).toBe('us.anthropic.claude-sonnet-4-20250514-v1:0');
      const usage = json['usage'] as { input_tokens: number; output_tokens: number };
      expect(usage.output_tokens).toBe(11);
      expect(hdr(res, 'content-type')).toBe('application/json; charset=utf-8');
      await new Promise((r) => setTimeout(r, 50));
      // the recorder normalises Bedrock ids in key names (legacy normalizeModelName)
      const u = await dailyModelUsage('claude-sonnet-4-20250514');
      expect(u['inputTokens']).toBe(String(usage.input_tokens));
      expect(u['outputTokens']).toBe('11');
      expect(await f.redis.exists(`account_usage:${BEDROCK_ID}`)).toBe(1);
    });
  });

  it('the account defaultModel wins over the request model; haiku ids without an account region use the default region', async () => {
    await storeAccount(bedrockAccount({ defaultModel: 'claude-3-5-haiku', region: '' }));
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'claude-opus-4-1', messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(200);
      const up = upstreamAfter(seq);
      expect(up[0]!.url).toBe('/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke');
      expect(String(up[0]!.headers['authorization'])).toContain('/us-east-1/bedrock/aws4_request');
    });
  });

  it('SDK errors are mapped by name into the legacy 500 body, nothing recorded', async () => {
    await withRelay(async (h) => {
      const before = (await f.redis.keys('usage:*')).sort();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'claude-sonnet-4', messages: [{ role: 'user', content: '__MOCK_ERROR_403__' }] }));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toEqual({ error: 'Bedrock service error', message: 'Bedrock访问被拒绝，请检查IAM权限' });
      expect((await f.redis.keys('usage:*')).sort()).toEqual(before);
    });
  });

  it('ThrottlingException: retried by the SDK like the legacy (3 attempts), then the legacy throttling message', async () => {
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ messages: [{ role: 'user', content: '__MOCK_ERROR_429__' }] }));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toEqual({ error: 'Bedrock service error', message: 'Bedrock请求限流，请稍后重试' });
      expect(upstreamAfter(seq)).toHaveLength(3);
    });
  });

  it('no credentials on the account and none in the config (process.env has some): the legacy message, nothing sent upstream', async () => {
    await storeAccount(bedrockAccount({}, null));
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'claude-sonnet-4', messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toEqual({ error: 'Bedrock service error', message: `Bedrock服务错误: ${MISSING_CREDENTIALS}` });
      expect(upstreamAfter(seq)).toHaveLength(0);
    });
  });

  it('undecryptable credentials: "Failed to get Bedrock account details"', async () => {
    await storeAccount(bedrockAccount({ awsCredentials: { encrypted: 'zz', iv: '00' } }));
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body.toString())).toEqual({ error: 'Bedrock service error', message: 'Failed to get Bedrock account details' });
    });
  });
});

describe('Bedrock relay, stream', () => {
  it('converts the event stream into the legacy SSE (four event types, bare shapes, done marker) and records message_stop usage', async () => {
    await withRelay(async (h) => {
      const seq = since();
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'claude-3-7-sonnet', stream: true, messages: [{ role: 'user', content: 'stream please' }] }));
      expect(res.status).toBe(200);
      expect(upstreamAfter(seq)[0]!.url).toBe('/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/invoke-with-response-stream');
      const names = res.rawHeaders.map((l) => l.slice(0, l.indexOf(':')));
      // writeHead merges into api.js' SSE headers: the one new header goes last, before Node's own
      expect(names.slice(-4)).toEqual(['X-Accel-Buffering', 'Access-Control-Allow-Headers', 'Date', 'Transfer-Encoding']);
      expect(hdr(res, 'access-control-allow-headers')).toBe('Content-Type, Authorization');
      const text = res.body.toString();
      const events = text.split('\n\n').filter(Boolean);
      expect(events.map((e) => e.split('\n')[0])).toEqual(['event: message_start', 'event: content_block_delta', 'event: message_delta', 'event: message_stop', 'event: done']);
      const start = JSON.parse(events[0]!.split('\n')[1]!.slice(6)) as Record<string, unknown>;
      expect(start).toMatchObject({ type: 'message', id: `msg_${AT}_bedrock`, role: 'assistant', content: [], model: 'us.anthropic.claude-sonnet-4-20250514-v1:0', stop_reason: null, stop_sequence: null });
      expect(Object.keys(JSON.parse(events[1]!.split('\n')[1]!.slice(6)) as object)).toEqual(['index', 'delta']);
      expect(events[2]).toBe('event: message_delta\ndata: {"delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":11}}');
      expect(events[3]).toBe('event: message_stop\ndata: {"usage":{}}');
      expect(events[4]).toBe('event: done\ndata: [DONE]');
      await new Promise((r) => setTimeout(r, 50));
      // message_stop carries no usage: the legacy records 0/0 under the Bedrock model id (one request)
      const u = await dailyModelUsage('claude-3-7-sonnet-20250219');
      expect(u['requests']).toBe('1');
      expect(u['inputTokens']).toBe('0');
      expect(u['outputTokens']).toBe('0');
    });
  });

  it('an SDK error before the first event: 500 application/json (+ Vary) with an SSE error event', async () => {
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ stream: true, messages: [{ role: 'user', content: '__MOCK_ERROR_403__' }] }));
      expect(res.status).toBe(500);
      expect(hdr(res, 'content-type')).toBe('application/json');
      // recorded (legacy-providers/bedrock-stream-error-403): compression's Vary comes last, before Node's own headers
      expect(res.rawHeaders.map((l) => l.slice(0, l.indexOf(':'))).slice(-3)).toEqual(['Vary', 'Date', 'Transfer-Encoding']);
      expect(res.body.toString()).toBe('event: error\ndata: {"error":"Bedrock访问被拒绝，请检查IAM权限"}\n\n');
    });
  });

  it('account unreadable on a stream: the JSON 500 written over the SSE headers (api.js res.status(500).json)', async () => {
    await storeAccount(bedrockAccount({ awsCredentials: { encrypted: 'zz', iv: '00' } }));
    await withRelay(async (h) => {
      const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ stream: true, messages: [{ role: 'user', content: 'x' }] }));
      expect(res.status).toBe(500);
      expect(hdr(res, 'content-type')).toBe('text/event-stream; charset=utf-8');
      expect(JSON.parse(res.body.toString())).toEqual({ error: 'Bedrock service error', message: 'Failed to get Bedrock account details' });
    });
  });
});
