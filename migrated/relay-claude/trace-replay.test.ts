import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../compat-tests/mock-upstream/server.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { diffRedisSnapshots, dumpRedisSnapshot, loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { frozenClock } from '../runtime/clock.js';
import { loadTrace, recordedHeader, send, type Trace, type WireResponse } from '../routes/shared/trace-replay.test-helper.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { createClaudeCountTokensModule } from './count-tokens-module.js';
import { createOpenAiClaudeChatModule } from './openai-chat-module.js';
import type { MigratedModuleFactory } from '../module.js';
import { traceUpstream } from './trace-fixtures.test-helper.js';
import { serveRelay } from './relay-harness.test-helper.js';

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

async function replay(trace: Trace, factory: MigratedModuleFactory): Promise<{ res: WireResponse; upstream: ReturnType<MockUpstream['requests']> }> {
  await loadRedisSnapshot(redis, trace.redisBefore);
  const clock = frozenClock(requestInstant(trace), 8);
  mock.settings.nowMs = () => clock.now();
  const h = await serveRelay(factory, redis, { atMs: clock.now(), upstreamOverride: mock.url });
  const rid = recordedHeader(trace, 'X-Request-ID');
  if (rid) h.ids.queueRequestIds(rid);
  // the OpenAI-compat id is two more request-id draws: hand out the recorded one (its length sets Content-Length)
  const chat = /"id":"chatcmpl-([0-9a-z]+)"/.exec(trace.responseBody.toString('utf8'));
  if (chat) h.ids.queueRequestIds(chat[1]!.slice(0, 11), chat[1]!.slice(11));
  const port = h.port;
  const before = mock.requests().length ? mock.requests()[mock.requests().length - 1]!.seq : 0;
  try {
    const url = new URL(trace.request.url);
    const headers = Object.entries(trace.request.headers).filter(([k]) => k.toLowerCase() !== 'host');
    headers.unshift(['Host', url.host]);
    const res = await send(port, trace.request.method, url.pathname + url.search, headers, trace.requestBody);
    await new Promise((r) => setTimeout(r, 50)); // fire-and-forget usage writes
    return { res, upstream: mock.requests().filter((u) => u.seq > before) };
  } finally {
    await h.close();
  }
}

const NOISY = /^(date|x-request-id|etag|request-id|anthropic-ratelimit-unified-5h-reset|anthropic-ratelimit-unified-reset|retry-after): /i;
const normHeaders = (raw: string[]) => raw.map((h) => (NOISY.test(h) ? h.slice(0, h.indexOf(':')) : h));
const normBody = (b: Buffer) =>
  b
    .toString('utf8')
    .replace(/"timestamp":"[^"]+"/g, '"timestamp":"<t>"')
    .replace(/"id":"chatcmpl-[0-9a-z]+"/g, '"id":"chatcmpl-<id>"')
    .replace(/"created":\d+/g, '"created":0').replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+8\)/g, '<time>');

/** Wall-clock values (ISO instants written at request time) and TTL countdown: the declared noise. */
const TIME_FIELDS = [
  'lastUsedAt',
  'lastRequestTime',
  'rateLimitedAt',
  'sessionWindowStatusUpdatedAt',
  'unauthorizedAt',
  'blockedAt',
  'overloadedAt',
  'errorMessage',
  'activatedAt',
];
const REDIS_NOISE = {
  ttlTolerance: 5,
  ignoreHashFields: [{ key: /./, fields: TIME_FIELDS }],
};

/** Usage records and billing events carry the recording instant and a time-based id: blank them. */
function normalizeSnapshot(snap: RedisSnapshot): RedisSnapshot {
  const out: RedisSnapshot = {};
  const strip = (json: string): string => {
    try {
      const v = JSON.parse(json) as Record<string, unknown>;
      delete v['timestamp'];
      delete v['eventId'];
      const ctx = v['context'] as Record<string, unknown> | undefined;
      if (ctx) delete ctx['requestTimestamp'];
      return JSON.stringify(v);
    } catch {
      return json;
    }
  };
  for (const [k, e] of Object.entries(snap)) {
    if (e.type === 'list' && k.startsWith('usage:records:')) out[k] = { ...e, value: e.value.map(strip) };
    else if (e.type === 'string' && k.startsWith('claude_code_headers:')) out[k] = { type: 'string', ttl: e.ttl, value: e.value.replace(/"updatedAt":"[^"]+"/, '"updatedAt":"<t>"') };
    else if (e.type === 'stream') out[k] = { ...e, value: e.value.map(([, fields]) => ['<id>', fields.map((f, i) => (i % 2 ? strip(f) : f))] as [string, string[]]) };
    else out[k] = e;
  }
  return out;
}

/** The request instant: the legacy's own rateLimitedAt when the exchange marked a limit (the mock derives reset headers from it). */
function requestInstant(trace: Trace): number {
  const key = Object.keys(trace.redisAfter).find((k) => k.startsWith('claude:account:'));
  const after = key ? (trace.redisAfter[key]!.value as Record<string, string>) : undefined;
  const before = key ? (trace.redisBefore[key]?.value as Record<string, string> | undefined) : undefined;
  if (after?.['rateLimitedAt'] && after['rateLimitedAt'] !== before?.['rateLimitedAt']) return Date.parse(after['rateLimitedAt']);
  return trace.capturedAt - 1000;
}

const EXCHANGES = [
  '04-messages-nonstream-oauth-first',
  '05-messages-nonstream-oauth-second',
  '06-messages-stream-oauth',
  '07-messages-nonstream-console',
  '08-messages-stream-console',
  '09-messages-nonstream-pool',
  '10-claude-code-style-stream-pool',
  '11-claude-code-style-stream-pool-again',
  '12-count-tokens-oauth',
  '13-count-tokens-console',
  '14-openai-chat-nonstream',
  '15-openai-chat-stream',
  '22-stream-midstream-error-console',
  '23-upstream-529-oauth',
  '24-upstream-529-console',
  '26-upstream-429-console',
  '27-after-429-console-next',
  '29-upstream-429-oauth-nonstream',
  '30-after-429-oauth-next',
  '32-upstream-429-oauth-stream',
  '34-upstream-429-console-stream',
  '36-upstream-500-oauth',
  '37-after-500-oauth-next',
  '38-upstream-401-console',
  '40-messages-nonstream-console-final',
];

describe('claude-messages / claude-count-tokens / openai-claude-chat replay the recorded exchanges', () => {
  for (const name of EXCHANGES) {
    it(name, async () => {
      const trace = loadTrace(name);
      const factory = name.includes('count-tokens') ? createClaudeCountTokensModule : name.includes('openai-chat') ? createOpenAiClaudeChatModule : createClaudeMessagesModule;
      const { res, upstream } = await replay(trace, factory);
      const recordedUp = traceUpstream(name);
      expect(upstream.map((u) => [u.method, u.url])).toEqual(recordedUp.map((u) => [u.method, u.url]));
      for (let i = 0; i < recordedUp.length; i++) {
        expect(upstream[i]!.bodyRaw).toBe(recordedUp[i]!.bodyRaw);
        expect(upstream[i]!.rawHeaders).toEqual(recordedUp[i]!.rawHeaders);
      }
      expect(res.status).toBe(trace.response.status);
      expect(normHeaders(res.rawHeaders)).toEqual(normHeaders(trace.response.rawHeaders));
      expect(normBody(res.body)).toBe(normBody(trace.responseBody));
      const diffs = diffRedisSnapshots(normalizeSnapshot(trace.redisAfter), normalizeSnapshot(await dumpRedisSnapshot(redis)), REDIS_NOISE);
      expect(diffs).toEqual([]);
    });
  }
});

export type { RedisSnapshot };
