import { describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { BEDROCK_ID, CCR_ID, POOL_KEY_ID, headerOf, storeBedrock, storeCcr } from '../relay-bedrock/provider-accounts.test-helper.js';
import createClaudeMessagesModule from '../relay-claude/messages-module.js';
import { KEYS, type RelayHarness } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';

/**
 * The user-message queue (claude_relay_config.userMessageQueueEnabled, off by default) on Bedrock
 * and CCR accounts, as bedrockRelayService / ccrRelayService take it: a user turn waits for
 * `user_msg_queue_lock:<account>`, lets it go once the upstream answered (or failed), and a refusal
 * is rendered the way each legacy path rendered it.
 */
const f = useRelayFixture({
  trace: '07-messages-nonstream-console',
  atMs: Date.parse('2026-11-26T11:52:04.000Z'),
  seed: async (redis) => {
    await redis.hset(`apikey:${POOL_KEY_ID}`, 'bedrockAccountId', BEDROCK_ID);
    await storeBedrock(redis);
    await storeCcr(redis);
  },
});

const headers: Array<[string, string]> = [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', KEYS.pool],
  ['content-type', 'application/json'],
];
const CASES = [
  ['Bedrock', BEDROCK_ID, 'claude-sonnet-4-20250514'],
  ['CCR', CCR_ID, 'ccr,claude-sonnet-4-5'],
] as const;
const userTurn = (model: string, stream: boolean, text = 'hello queue') => JSON.stringify({ model, stream, max_tokens: 20, messages: [{ role: 'user', content: text }] });
const enableQueue = (extra: Record<string, unknown> = {}) => f.redis.set('claude_relay_config', JSON.stringify({ userMessageQueueEnabled: true, userMessageQueueDelayMs: 0, ...extra }));
const lockKey = (id: string) => `user_msg_queue_lock:${id}`;
const lastKey = (id: string) => `user_msg_queue_last:${id}`;
/** Some releases follow the response (stream error answers, as in the legacy): wait for the handler to settle. */
async function settled(h: RelayHarness, n: number): Promise<void> {
  for (let i = 0; i < 100 && h.settled < n; i++) await new Promise((r) => setTimeout(r, 10));
  expect(h.settled).toBe(n);
}
const TIMEOUT_BODY = { type: 'error', error: { type: 'queue_timeout', code: 'QUEUE_TIMEOUT', message: 'User message queue wait timeout, please retry later' } };

describe('user-message queue on Bedrock and CCR accounts', () => {
  for (const [label, account, model] of CASES) {
    for (const stream of [false, true]) {
      it(`${label} ${stream ? 'stream' : 'non-stream'}: lock taken and released around the upstream call (last-release time written); off: no queue key`, async () => {
        await f.withRelay(createClaudeMessagesModule, async (h) => {
          expect((await send(h.port, 'POST', '/api/v1/messages', headers, userTurn(model, stream))).status).toBe(200);
          await settled(h, 1);
        });
        expect(await f.redis.keys('user_msg_queue_*')).toEqual([]);
        await enableQueue(); // the relay config is cached per module: a new one reads it
        await f.withRelay(createClaudeMessagesModule, async (h) => {
          const seq = f.mark();
          expect((await send(h.port, 'POST', '/api/v1/messages', headers, userTurn(model, stream, 'second'))).status).toBe(200);
          expect(f.upstreamAfter(seq)).toHaveLength(1);
          await settled(h, 1);
        });
        expect(await f.redis.exists(lockKey(account))).toBe(0);
        expect(Number(await f.redis.get(lastKey(account)))).toBeGreaterThan(0);
      });
    }

    it(`${label}: released after an upstream error too`, async () => {
      await enableQueue();
      const errorTurn = label === 'Bedrock' ? userTurn(model, false, '__MOCK_ERROR_403__') : userTurn('ccr,mock-500', true);
      await f.withRelay(createClaudeMessagesModule, async (h) => {
        const seq = f.mark();
        expect((await send(h.port, 'POST', '/api/v1/messages', headers, errorTurn)).status).toBe(500);
        expect(f.upstreamAfter(seq)).toHaveLength(1);
        await settled(h, 1);
      });
      expect(await f.redis.exists(lockKey(account))).toBe(0);
      expect(await f.redis.exists(lastKey(account))).toBe(1);
    });
  }

  it('timeout on a held lock: Bedrock non-stream 500 {} (api.js drops the refusal), streams 503 SSE, CCR non-stream 503 JSON; nothing sent upstream, the holder keeps its lock', async () => {
    await enableQueue({ userMessageQueueTimeoutMs: 120 });
    for (const [, account] of CASES) await f.redis.set(lockKey(account), 'someone-else', 'PX', 60_000);
    await f.withRelay(createClaudeMessagesModule, async (h) => {
      const seq = f.mark();
      const bedrockPlain = await send(h.port, 'POST', '/api/v1/messages', headers, userTurn(CASES[0][2], false));
      expect(bedrockPlain.status).toBe(500);
      expect(bedrockPlain.body.toString()).toBe('{}');
      expect(headerOf(bedrockPlain, 'x-user-message-queue-error')).toBeUndefined();

      const ccrPlain = await send(h.port, 'POST', '/api/v1/messages', headers, userTurn(CASES[1][2], false));
      expect(ccrPlain.status).toBe(503);
      expect(headerOf(ccrPlain, 'content-type')).toBe('application/json; charset=utf-8');
      expect(headerOf(ccrPlain, 'x-user-message-queue-error')).toBe('queue_timeout');
      expect(JSON.parse(ccrPlain.body.toString())).toEqual(TIMEOUT_BODY);

      for (const [, , model] of CASES) {
        const sse = await send(h.port, 'POST', '/api/v1/messages', headers, userTurn(model, true));
        expect(sse.status).toBe(503);
        expect(headerOf(sse, 'content-type')).toBe('text/event-stream');
        expect(headerOf(sse, 'x-user-message-queue-error')).toBe('queue_timeout');
        expect(sse.body.toString()).toBe(`event: error\ndata: ${JSON.stringify(TIMEOUT_BODY)}\n\ndata: [DONE]\n\n`);
      }
      expect(f.upstreamAfter(seq)).toEqual([]);
    });
    for (const [, account] of CASES) expect(await f.redis.get(lockKey(account))).toBe('someone-else');
  });
});
