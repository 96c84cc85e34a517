import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyTracesDir } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../test-support/redis-snapshot.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { CONSOLE_ACCOUNT, KEYS, serveRelay, type RelayHarness } from './relay-harness.test-helper.js';
import { countRedisTraffic, type RedisTraffic } from './redis-traffic.test-helper.js';

/**
 * Redis traffic per request on the Console non-stream path (trace 07's key and account): a
 * regression guard for the hot path's round trips. From the key's second request on, everything
 * read before the upstream call is one EVALSHA (the key read-ahead script); the usage batch and the account's lastUsedAt
 * are one EVALSHA issued before the response is written.
 */
let server: PrivateRedis;
let redis: Redis;
let origin: Server;
let h: RelayHarness;
let traffic: RedisTraffic;
let upstreamCalls = 0;
/** Which credential the last upstream call carried: a Console account sends x-api-key, an OAuth one a bearer token. */
let lastAuth = '';

const body = JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
const send = () =>
  fetch(`http://127.0.0.1:${h.port}/api/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEYS.console, 'content-type': 'application/json' }, body }).then(async (r) => ({
    status: r.status,
    text: await r.text(),
  }));
const settle = () => new Promise((r) => setTimeout(r, 40));

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  origin = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      upstreamCalls++;
      lastAuth = req.headers['x-api-key'] ? 'console' : req.headers['authorization'] ? 'oauth' : 'none';
      const b = JSON.stringify({ id: 'msg_rt', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [], usage: { input_tokens: 20, output_tokens: 8 } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  await loadRedisSnapshot(redis, JSON.parse(readFileSync(join(legacyTracesDir, '07-messages-nonstream-console', 'redis.before.json'), 'utf8')) as RedisSnapshot);
  h = await serveRelay(createClaudeMessagesModule, redis, { atMs: Date.parse('2026-11-26T12:00:00.000Z'), upstreamOverride: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` });
  traffic = await countRedisTraffic(redis);
});
afterAll(async () => {
  traffic?.stop();
  await h?.close();
  origin?.close();
  redis?.disconnect();
  await server?.stop();
});

describe('Redis round trips, Console non-stream', () => {
  it('first request of a key: ordinary lookups; from the second on: one read EVALSHA_RO (key, costs, bound account) + one write EVALSHA (usage + account lastUsedAt)', async () => {
    traffic.reset();
    expect((await send()).status).toBe(200);
    await settle();
    const first = traffic.writes;
    expect(first).toBeGreaterThan(3);

    for (let i = 0; i < 3; i++) {
      traffic.reset();
      const r = await send();
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text).usage).toEqual({ input_tokens: 20, output_tokens: 8 });
      await settle();
      if (i === 0) {
        // the read script is loaded on its first use on this connection (SCRIPT LOAD, once)
        expect(traffic.commands).toEqual(['script', 'evalsha_ro', 'evalsha']);
        continue;
      }
      expect(traffic.commands).toEqual(['evalsha_ro', 'evalsha']);
      expect(traffic.writes).toBe(2);
      expect(traffic.waves).toBeLessThanOrEqual(2);
    }
    expect(await redis.hget(`claude_console_account:${CONSOLE_ACCOUNT}`, 'lastUsedAt')).toBe('2026-11-26T12:00:00.000Z');
    expect(await redis.hget('apikey:1857b79d-0174-4bfa-a1d1-75ab45ea91a6', 'lastUsedAt')).toBe('2026-11-26T12:00:00.000Z');
    expect(upstreamCalls).toBe(4);
  });

  it('a binding changed since the last request: the new binding is read, not the read-ahead of the old one', async () => {
    const keyHash = 'apikey:1857b79d-0174-4bfa-a1d1-75ab45ea91a6';
    const bound = await redis.hget(keyHash, 'claudeConsoleAccountId');
    await send();
    expect(lastAuth).toBe('console');
    await redis.hset(keyHash, 'claudeConsoleAccountId', 'no-such-account');
    traffic.reset();
    await send();
    expect(lastAuth).toBe('oauth'); // the shared pool's OAuth account
    // the read-ahead (planned for the old binding) is not used: the scheduler reads the new binding itself
    expect(traffic.commands.slice(0, 3)).toEqual(['evalsha_ro', 'hgetall', 'exists']);
    await redis.hset(keyHash, 'claudeConsoleAccountId', bound!);
    await send();
    expect(lastAuth).toBe('console');
  });

  it('the bound account is re-read on every request (a disabled account is seen at once)', async () => {
    await send();
    expect(lastAuth).toBe('console');
    await redis.hset(`claude_console_account:${CONSOLE_ACCOUNT}`, 'isActive', 'false');
    await send();
    expect(lastAuth).toBe('oauth');
    await redis.hset(`claude_console_account:${CONSOLE_ACCOUNT}`, 'isActive', 'true');
    await send();
    expect(lastAuth).toBe('console');
  });

  it('the key read started with the headers is not used after a slow upload: a key disabled meanwhile is refused, as the legacy (reading after the body) does', async () => {
    const keyHash = 'apikey:1857b79d-0174-4bfa-a1d1-75ab45ea91a6';
    expect((await send()).status).toBe(200); // the key is known: its next request starts the read with the headers
    const slow = () =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(`http://127.0.0.1:${h.port}/api/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEYS.console, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.flushHeaders();
        req.write(body.slice(0, 10));
        // the early read is issued now; the key is disabled before the rest of the body arrives
        setTimeout(() => {
          void redis.hset(keyHash, 'isActive', 'false').then(() => setTimeout(() => req.end(body.slice(10)), 20));
        }, 20);
      });
    const r = await slow();
    await redis.hset(keyHash, 'isActive', 'true');
    expect(r.status).toBe(401);
    expect(JSON.parse(r.text).message).toBe('API key is disabled');
    expect((await send()).status).toBe(200);
  });
});
