import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { DEFAULT_RELAY_CONFIG } from '../auth/relay-config.js';
import { UserMessageQueue } from '../locks/user-message-queue.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, OAUTH_ACCOUNT, type RelayHarness } from './relay-harness.test-helper.js';
import { acquireUserMessageLock, isUserMessageRequest, queueSettings } from './user-message-queue.js';

const AT = Date.parse('2026-11-26T11:52:04.000Z');
const ACCOUNTS = [
  ['console', KEYS.console, CONSOLE_ACCOUNT],
  ['official', KEYS.oauth, OAUTH_ACCOUNT],
] as const;
const lockKey = (id: string) => `user_msg_queue_lock:${id}`;
const lastKey = (id: string) => `user_msg_queue_last:${id}`;

const fx = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT });

/**
 * A scripted upstream: records, for every request, the user-message lock of both accounts as Redis
 * holds it when the request arrives, and how many requests were in flight at once. `hold` lets a
 * request wait for a second one (or 400 ms) before answering.
 */
interface Upstream {
  url: string;
  seen: Array<{ lock: string | null }>;
  maxInFlight: number;
  close(): Promise<void>;
}

async function startUpstream(opts: { status?: number; hold?: boolean; headerDelayMs?: number } = {}): Promise<Upstream> {
  const u = { seen: [] as Array<{ lock: string | null }>, maxInFlight: 0, inFlight: 0, waiters: [] as Array<() => void> };
  const srv: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      u.inFlight++;
      u.maxInFlight = Math.max(u.maxInFlight, u.inFlight);
      const lock = (await fx.redis.get(lockKey(CONSOLE_ACCOUNT))) ?? (await fx.redis.get(lockKey(OAUTH_ACCOUNT)));
      u.seen.push({ lock });
      u.waiters.splice(0).forEach((w) => w());
      if (opts.hold) await new Promise<void>((r) => (u.inFlight >= 2 ? r() : (u.waiters.push(r), setTimeout(r, 400))));
      if (opts.headerDelayMs) await new Promise((r) => setTimeout(r, opts.headerDelayMs));
      const stream = (JSON.parse(Buffer.concat(chunks).toString()) as { stream?: boolean }).stream === true;
      const status = opts.status ?? 200;
      u.inFlight--;
      if (res.destroyed) return;
      if (status !== 200) {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'boom' } }));
      } else if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":3,"output_tokens":1}}}\n\n');
        res.end('event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":2}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'msg_1', type: 'message', model: 'claude-sonnet-4-5', content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3, output_tokens: 2 } }));
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen: u.seen,
    get maxInFlight() {
      return u.maxInFlight;
    },
    async close() {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    },
  };
}

const withRelay = <T>(upstream: string, fn: (h: RelayHarness) => Promise<T>): Promise<T> => fx.withRelay(createClaudeMessagesModule, fn, { upstream });

const enableQueue = (extra: Record<string, unknown> = {}) => fx.redis.set('claude_relay_config', JSON.stringify({ userMessageQueueEnabled: true, ...extra }));
const headers = (key: string): Array<[string, string]> => [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', key],
  ['content-type', 'application/json'],
];
const userTurn = (stream = false) => JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, stream, messages: [{ role: 'user', content: 'hello' }] });
const toolTurn = JSON.stringify({
  model: 'claude-sonnet-4-5',
  max_tokens: 10,
  messages: [
    { role: 'user', content: 'hello' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'x', input: {} }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'ok' }] },
  ],
});
const header = (raw: string[], name: string) => raw.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}: `))?.slice(name.length + 2);

describe('isUserMessageRequest and settings (userMessageQueueService)', () => {
  it('a user turn counts; an assistant turn, tool_result / tool_use_result blocks, no messages do not', () => {
    expect(isUserMessageRequest({ messages: [{ role: 'user', content: 'x' }] })).toBe(true);
    expect(isUserMessageRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, null] }] })).toBe(true);
    expect(isUserMessageRequest({ messages: [{ role: 'assistant', content: 'x' }] })).toBe(false);
    expect(isUserMessageRequest({ messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }, { type: 'tool_use_result' }] }] })).toBe(false);
    expect(isUserMessageRequest(JSON.parse(toolTurn) as Record<string, unknown>)).toBe(false);
    expect(isUserMessageRequest({ messages: [] })).toBe(false);
    expect(isUserMessageRequest({})).toBe(false);
  });

  it('off by default; the stored config decides (its defaults define every field)', () => {
    expect(queueSettings(DEFAULT_RELAY_CONFIG)).toEqual({ enabled: false, delayMs: 200, timeoutMs: 5000, lockTtlMs: 5000 });
    expect(queueSettings({ ...DEFAULT_RELAY_CONFIG, userMessageQueueEnabled: 'true' }).enabled).toBe(false);
    expect(queueSettings({ ...DEFAULT_RELAY_CONFIG, userMessageQueueEnabled: true, userMessageQueueDelayMs: 0 })).toMatchObject({ enabled: true, delayMs: 0 });
  });

  it('acquire loop: waits out the delay since the last release, times out on a held lock', async () => {
    const q = new UserMessageQueue(fx.redis);
    const slept: number[] = [];
    let t = 0;
    const wait = { elapsed: () => t, sleep: async (ms: number) => void (slept.push(ms), (t += ms)), random: () => 0.5 };
    const cfg = { enabled: true, delayMs: 10_000, timeoutMs: 1000, lockTtlMs: 5000 };
    await fx.redis.set(lastKey('acc'), String(Date.now()));
    expect(await acquireUserMessageLock(q, 'acc', 'r1', cfg, wait)).toBe('queue_timeout');
    expect(slept.length).toBeGreaterThan(0);
    expect(slept[0]).toBeLessThanOrEqual(1000); // min(delay left, time left)
    await fx.redis.del(lastKey('acc'));
    t = 0;
    expect(await acquireUserMessageLock(q, 'acc', 'r2', cfg, wait)).toBe('acquired');
    expect(await fx.redis.get(lockKey('acc'))).toBe('r2');
    slept.length = 0;
    t = 0;
    expect(await acquireUserMessageLock(q, 'acc', 'r3', cfg, wait)).toBe('queue_timeout');
    // back-off 50 × 1.5^n ms capped at 500 (jitter factor 1.0 with random 0.5)
    expect(slept.slice(0, 5)).toEqual([50, 75, 112.5, 168.75, 253.125]);
    expect(await fx.redis.get(lockKey('acc'))).toBe('r2');
  });
});

describe('user-message queue in the relay (console and official accounts)', () => {
  it('off (default): no lock is taken, no queue key written', async () => {
    const up = await startUpstream();
    try {
      await withRelay(up.url, async (h) => {
        const res = await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn());
        expect(res.status).toBe(200);
      });
      expect(up.seen).toEqual([{ lock: null }]);
      expect(await fx.redis.keys('user_msg_queue_*')).toEqual([]);
    } finally {
      await up.close();
    }
  });

  for (const [label, key, account] of ACCOUNTS) {
    for (const stream of [false, true]) {
      it(`${label} ${stream ? 'stream' : 'non-stream'}: the lock is held while the upstream gets the request, released after, last-release time kept 60 s`, async () => {
        await enableQueue();
        const up = await startUpstream();
        try {
          await withRelay(up.url, async (h) => {
            const res = await send(h.port, 'POST', '/api/v1/messages', headers(key), userTurn(stream));
            expect(res.status).toBe(200);
          });
          expect(up.seen).toHaveLength(1);
          expect(up.seen[0]!.lock).toMatch(/^[0-9a-f-]{36}$/);
          expect(await fx.redis.exists(lockKey(account))).toBe(0);
          const last = Number(await fx.redis.get(lastKey(account)));
          expect(Math.abs(last - Date.now())).toBeLessThan(60_000);
          const ttl = await fx.redis.ttl(lastKey(account));
          expect(ttl).toBeGreaterThan(0);
          expect(ttl).toBeLessThanOrEqual(60);
        } finally {
          await up.close();
        }
      });
    }
  }

  it('off: three requests cost one cached claude_relay_config read (shared with auth) and no queue command', async () => {
    const up = await startUpstream();
    const monitor = await fx.redis.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_t: string, args: string[]) => seen.push(args));
    try {
      await withRelay(up.url, async (h) => {
        for (let i = 0; i < 3; i++) expect((await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn())).status).toBe(200);
      });
      await fx.redis.ping();
      expect(seen.filter((a) => a[0]?.toLowerCase() === 'get' && a[1] === 'claude_relay_config')).toHaveLength(1);
      // (the scripted upstream itself GETs the lock keys to observe them)
      expect(seen.filter((a) => a[0]?.toLowerCase() !== 'get' && a.some((x) => x.includes('user_msg_queue')))).toEqual([]);
    } finally {
      monitor.disconnect();
      await up.close();
    }
  });

  it('a tool_result turn is not queued', async () => {
    await enableQueue();
    const up = await startUpstream();
    try {
      await withRelay(up.url, async (h) => {
        expect((await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), toolTurn)).status).toBe(200);
      });
      expect(up.seen).toEqual([{ lock: null }]);
      expect(await fx.redis.keys('user_msg_queue_*')).toEqual([]);
    } finally {
      await up.close();
    }
  });

  it('two user turns on one account reach the upstream one after the other (and together when the queue is off)', async () => {
    for (const enabled of [true, false]) {
      if (enabled) await enableQueue({ userMessageQueueDelayMs: 0 });
      else await fx.redis.del('claude_relay_config');
      const up = await startUpstream({ hold: true });
      try {
        await withRelay(up.url, async (h) => {
          const both = await Promise.all([1, 2].map(() => send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn())));
          expect(both.map((r) => r.status)).toEqual([200, 200]);
        });
        expect(up.maxInFlight).toBe(enabled ? 1 : 2);
      } finally {
        await up.close();
      }
    }
  });

  it('timeout: 503 queue_timeout with the header (non-stream JSON, stream SSE), the holder keeps its lock, nothing sent upstream', async () => {
    await enableQueue({ userMessageQueueTimeoutMs: 150 });
    await fx.redis.set(lockKey(CONSOLE_ACCOUNT), 'someone-else', 'PX', 60_000);
    const up = await startUpstream();
    const expected = { type: 'error', error: { type: 'queue_timeout', code: 'QUEUE_TIMEOUT', message: 'User message queue wait timeout, please retry later' } };
    try {
      await withRelay(up.url, async (h) => {
        const plain = await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn());
        expect(plain.status).toBe(503);
        expect(header(plain.rawHeaders, 'x-user-message-queue-error')).toBe('queue_timeout');
        expect(header(plain.rawHeaders, 'content-type')).toMatch(/^application\/json/);
        expect(JSON.parse(plain.body.toString())).toEqual(expected);

        const sse = await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn(true));
        expect(sse.status).toBe(503);
        expect(header(sse.rawHeaders, 'content-type')).toBe('text/event-stream');
        expect(header(sse.rawHeaders, 'x-user-message-queue-error')).toBe('queue_timeout');
        expect(sse.body.toString()).toBe(`event: error\ndata: ${JSON.stringify(expected)}\n\ndata: [DONE]\n\n`);
      });
      expect(up.seen).toEqual([]);
      expect(await fx.redis.get(lockKey(CONSOLE_ACCOUNT))).toBe('someone-else');
    } finally {
      await up.close();
    }
  });

  it('a Redis error in the lock script: 500 queue_backend_error at once', async () => {
    await enableQueue();
    await fx.redis.hset(lockKey(CONSOLE_ACCOUNT), 'x', '1'); // WRONGTYPE for GET inside the script
    const up = await startUpstream();
    try {
      await withRelay(up.url, async (h) => {
        const res = await send(h.port, 'POST', '/api/v1/messages', headers(KEYS.console), userTurn());
        expect(res.status).toBe(500);
        expect(header(res.rawHeaders, 'x-user-message-queue-error')).toBe('queue_backend_error');
        expect(JSON.parse(res.body.toString())).toEqual({
          type: 'error',
          error: { type: 'queue_backend_error', code: 'QUEUE_BACKEND_ERROR', message: 'Queue service temporarily unavailable, please retry later' },
        });
      });
      expect(up.seen).toEqual([]);
    } finally {
      await up.close();
    }
  });

  for (const [label, key, account] of ACCOUNTS) {
    it(`${label}: released on an upstream error status, a refused connection, and a client that leaves before the answer`, async () => {
      await enableQueue({ userMessageQueueDelayMs: 0 });
      const failing = await startUpstream({ status: 500 });
      try {
        await withRelay(failing.url, async (h) => {
          await send(h.port, 'POST', '/api/v1/messages', headers(key), userTurn(true));
          await send(h.port, 'POST', '/api/v1/messages', headers(key), userTurn(false));
        });
        expect(failing.seen.map((s) => typeof s.lock)).toEqual(['string', 'string']);
        expect(await fx.redis.exists(lockKey(account))).toBe(0);
      } finally {
        await failing.close();
      }

      await withRelay('http://127.0.0.1:1', async (h) => {
        await send(h.port, 'POST', '/api/v1/messages', headers(key), userTurn(true));
        await send(h.port, 'POST', '/api/v1/messages', headers(key), userTurn(false));
      });
      expect(await fx.redis.exists(lockKey(account))).toBe(0);

      const slow = await startUpstream({ headerDelayMs: 300 });
      try {
        await withRelay(slow.url, async (h) => {
          const before = h.settled;
          await new Promise<void>((resolve) => {
            const req = request({ host: '127.0.0.1', port: h.port, method: 'POST', path: '/api/v1/messages', agent: false });
            for (const [k, v] of headers(key)) req.setHeader(k, v);
            req.on('error', () => resolve());
            req.end(userTurn(true));
            const poll = setInterval(() => {
              if (slow.seen.length > 0) {
                clearInterval(poll);
                req.destroy();
                resolve();
              }
            }, 5);
          });
          while (h.settled === before) await new Promise((r) => setTimeout(r, 10));
        });
        expect(slow.seen).toHaveLength(1);
        expect(typeof slow.seen[0]!.lock).toBe('string');
        expect(await fx.redis.exists(lockKey(account))).toBe(0);
      } finally {
        await slow.close();
      }
    });
  }
});
