import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { CONSOLE_SLOT_RENEW_MS } from './console-slot.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS } from './relay-harness.test-helper.js';

/**
 * A Console stream holds its account's concurrency slot for as long as it runs: the relay renews the 600 s lease
 * every 5 minutes (the legacy's refreshConsoleAccountConcurrencyLease) and releases it when the stream ends.
 */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const SLOT = `concurrency:console_account:${CONSOLE_ACCOUNT}`;
const fx = useRelayFixture({
  trace: '07-messages-nonstream-console',
  atMs: AT,
  seed: async (redis) => {
    await redis.hset(`claude_console_account:${CONSOLE_ACCOUNT}`, 'maxConcurrentTasks', '2');
  },
});

afterEach(() => {
  vi.useRealTimers();
});

/** An upstream that starts a stream and holds it open until `finish()`. */
async function holdingUpstream(): Promise<{ url: string; started: Promise<void>; finish(): void; close(): Promise<void> }> {
  let finish = () => undefined as void;
  let started = () => undefined as void;
  const startedP = new Promise<void>((r) => (started = r));
  const srv: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":3,"output_tokens":1}}}\n\n');
      finish = () => void res.end('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":2}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
      started();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    started: startedP,
    finish: () => finish(),
    async close() {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe('Console stream slot renewal', () => {
  it('renewed to now + 600 s every 5 minutes while the stream runs; released when it ends', async () => {
    const up = await holdingUpstream();
    // only the renewal's interval is faked: sockets, Redis and setTimeout stay real
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      await fx.withRelay(
        createClaudeMessagesModule,
        async (h) => {
          const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hello' }] });
          const response = send(h.port, 'POST', '/api/v1/messages', [['x-api-key', KEYS.console], ['content-type', 'application/json']], body);
          await up.started;
          const [member, score] = await fx.redis.zrange(SLOT, 0, -1, 'WITHSCORES');
          expect(Number(score)).toBe(AT + 600_000);
          h.clock.advance(CONSOLE_SLOT_RENEW_MS);
          vi.advanceTimersByTime(CONSOLE_SLOT_RENEW_MS);
          const deadline = Date.now() + 2000;
          while (Number(await fx.redis.zscore(SLOT, member!)) !== AT + CONSOLE_SLOT_RENEW_MS + 600_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
          expect(Number(await fx.redis.zscore(SLOT, member!))).toBe(AT + CONSOLE_SLOT_RENEW_MS + 600_000);
          up.finish();
          expect((await response).status).toBe(200);
          const gone = Date.now() + 2000;
          while ((await fx.redis.exists(SLOT)) === 1 && Date.now() < gone) await new Promise((r) => setTimeout(r, 5));
          expect(await fx.redis.exists(SLOT)).toBe(0);
          // the stream is over: no renewal brings the lease back
          h.clock.advance(CONSOLE_SLOT_RENEW_MS);
          vi.advanceTimersByTime(CONSOLE_SLOT_RENEW_MS);
          await new Promise((r) => setTimeout(r, 50));
          expect(await fx.redis.exists(SLOT)).toBe(0);
        },
        { upstream: up.url },
      );
    } finally {
      await up.close();
    }
  });
});
