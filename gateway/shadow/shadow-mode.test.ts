import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseExchange } from '../../compat-tests/engine/format/exchange.js';
import { readSuite } from '../../compat-tests/engine/format/suite-store.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadConfig } from '../config/env.js';
import { createGateway, type Gateway } from '../create.js';
import { dumpKeyspace } from './sandbox/keyspace.js';
import { saveShadowDifference } from './save/save.js';
import { startShadowMode, type ShadowMode } from './setup.js';
import { startCountingUpstream, type CountingUpstream } from './testing/counting-upstream.js';
import { startToyOrigin, toyModuleFactory, type ToyVariant } from './testing/toy-service.js';

/**
 * End to end: gateway (shadow mode, legacy primary) in front of an HTTP origin whose Redis goes
 * through the primary Redis tap and whose upstream is the upstream tap; the candidate is a
 * migrated module running in the sandbox. Real Redis servers, real sockets.
 */

const KEY = 'cr_test_key';

function table(mode: 'shadow' | 'legacy') {
  return {
    routes: [
      {
        id: 'toy-messages',
        methods: ['POST'],
        paths: ['/api/v1/messages'],
        mode,
        module: 'toy',
        shadow: { primary: 'legacy', sampleRate: 1, maxInFlight: 8, maxBodyBytes: 1_000_000 },
      },
    ],
  };
}

async function send(port: number, body: object): Promise<{ status: number; text: string; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - t0 };
}

describe('shadow mode end to end', () => {
  let prod: PrivateRedis;
  let box: PrivateRedis;
  let upstream: CountingUpstream;
  let shadow: ShadowMode;
  let origin: { url: string; close(): Promise<void> };
  let originRedis: Redis;
  let gw: Gateway;
  let variant: ToyVariant = 'same';
  let admin: string;
  const direct = () => prod.client();

  async function seed(): Promise<void> {
    const r = direct();
    await r.flushdb();
    await r.hset(`apikey:${KEY}`, 'name', 'test key', 'upstreamKey', 'sk-up-1');
    await r.hset(`usage:${KEY}`, 'requests', '5', 'tokens', '100');
    await r.expire(`usage:${KEY}`, 86_400);
  }

  beforeAll(async () => {
    [prod, box] = await Promise.all([startPrivateRedis(), startPrivateRedis()]);
    upstream = await startCountingUpstream(3);
    shadow = await startShadowMode({
      log: pino({ level: 'silent' }),
      production: { host: prod.host, port: prod.port },
      sandbox: { host: box.host, port: box.port },
      upstreamTarget: upstream.url,
      settleMs: 80,
      candidateTimeoutMs: 5000,
      deviations: [{ exchange: 'shadow/toy-*', path: 'response.header.x-fixed', why: 'test: a header the candidate adds on purpose' }],
    });
    originRedis = new Redis({ host: '127.0.0.1', port: shadow.primaryRedisPort! });
    origin = await startToyOrigin(originRedis, shadow.upstreamPrimaryUrl!);
    const config = loadConfig({ GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', LEGACY_URL: origin.url, LOG_LEVEL: 'silent', REDIS_PORT: String(prod.port) });
    gw = await createGateway({
      config,
      table: table('shadow'),
      logger: pino({ level: 'silent' }),
      modules: { toy: async () => toyModuleFactory(() => variant, upstream.url) },
      shadowSink: shadow.sink,
      adminExtensions: [shadow.admin],
    });
    shadow.attach(gw);
    admin = `http://127.0.0.1:${gw.adminPort}`;
  });

  afterAll(async () => {
    await gw?.close();
    originRedis?.disconnect();
    await shadow?.close();
    await origin?.close();
    await upstream?.close();
    await Promise.all([prod?.stop(), box?.stop()]);
  });

  beforeEach(async () => {
    variant = 'same';
    await seed();
  });

  const engine = () => shadow.engine;
  const summary = () =>
    engine().results.routes().find((r) => r.routeId === 'toy-messages') ?? {
      identical: 0,
      differing: 0,
      errors: 0,
      acceptedDeviations: 0,
      sideEffects: { identical: 0, differing: 0, notMeasured: 0 },
    };

  it('identical answers and writes are reported identical; the upstream is paid once per request', async () => {
    const callsBefore = upstream.calls.length;
    const before = { ...summary() };
    for (const stream of [true, false, true]) {
      const r = await send(gw.dataPort, { model: 'claude-x', stream, messages: [{ role: 'user', content: 'hi' }] });
      expect(r.status).toBe(200);
      await engine().idle();
    }
    const after = summary();
    expect(after.identical - before.identical).toBe(3);
    expect(after.differing - before.differing).toBe(0);
    expect(after.sideEffects.identical - before.sideEffects.identical).toBe(3);
    expect(upstream.calls.length - callsBefore).toBe(3);
    // production saw the primary only: 3 requests x 17 tokens
    expect(await direct().hgetall(`usage:${KEY}`)).toEqual({ requests: '8', tokens: '151' });
  });

  it('a one-byte change in the stream is reported at its SSE event', async () => {
    variant = 'byte';
    await send(gw.dataPort, { model: 'claude-x', stream: true, messages: [1] });
    await engine().idle();
    const d = engine().results.differences()[0]!;
    expect(d.verdict).toBe('differing');
    expect(d.differences).toHaveLength(1);
    expect(d.differences[0]!.path).toBe('response.body#event[1]$.delta.text');
    const first = d.differences[0]!;
    expect([first.expected, first.actual]).toEqual(['Hello', 'Hellp']);
    expect(first.byteOffset).toBe(d.detail!.primaryResponse.body.indexOf('Hello') + 4);
    expect(d.firstDivergence).toContain('SSE event #1 (content_block_delta)');
    expect(d.sideEffects.status).toBe('identical');
  });

  it('a changed hash field is reported with the field', async () => {
    variant = 'hash';
    await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    await engine().idle();
    const d = engine().results.differences()[0]!;
    expect(d.differences.map((x) => x.area)).toEqual(['redis']);
    expect(d.sideEffects.status).toBe('differing');
    expect(d.differences[0]).toMatchObject({ path: `redis.usage:${KEY}.field.tokens`, expected: '117', actual: '118' });
    expect(d.firstDivergence).toContain(`redis.usage:${KEY}.field.tokens`);
  });

  it('a missing key is reported', async () => {
    variant = 'missing';
    await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    await engine().idle();
    const d = engine().results.differences()[0]!;
    expect(d.differences).toHaveLength(1);
    expect(d.differences[0]).toMatchObject({ path: `redis.last:${KEY}`, kind: 'missing' });
    expect(d.firstDivergence).toContain(`redis.last:${KEY}: missing on the candidate`);
  });

  it('an upstream call the primary did not make is answered "not available in shadow" and reported', async () => {
    const callsBefore = upstream.calls.length;
    variant = 'other-upstream-path';
    await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    await engine().idle();
    const d = engine().results.differences()[0]!;
    expect(d.upstream.calls).toEqual([{ outcome: 'not-available', method: 'POST', url: '/v1/messages/count_tokens' }]);
    expect(d.differences.map((x) => x.path)).toContain('upstream.not-available');
    expect(upstream.calls.length - callsBefore).toBe(1);
  });

  it('a difference listed in the accepted deviations does not count as differing', async () => {
    const before = { ...summary() };
    variant = 'extra-header';
    await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    await engine().idle();
    expect(summary().identical - before.identical).toBe(1);
    expect(summary().differing - before.differing).toBe(0);
    expect(summary().acceptedDeviations - before.acceptedDeviations).toBe(1);
  });

  it('concurrent requests: side effects are reported not measured, never identical', async () => {
    const before = summary().sideEffects.notMeasured;
    await Promise.all([1, 2, 3].map((n) => send(gw.dataPort, { model: `m${n}`, messages: [n] })));
    await engine().idle();
    expect(summary().sideEffects.notMeasured - before).toBe(3);
  });

  it('production Redis is byte-for-byte what it is without shadowing', async () => {
    const bodies = [{ model: 'a', messages: [1] }, { model: 'b', stream: true, messages: [1, 2] }];
    gw.applyTable(table('legacy'), 'test');
    for (const b of bodies) await send(gw.dataPort, b);
    await new Promise((r) => setTimeout(r, 150));
    const without = await dumpKeyspace(direct());
    await seed();
    gw.applyTable(table('shadow'), 'test');
    variant = 'hash'; // the candidate writes other values: none of them may reach production
    for (const b of bodies) {
      await send(gw.dataPort, b);
      await engine().idle();
    }
    const withShadow = await dumpKeyspace(direct());
    const strip = (d: Record<string, { dump: string; expireAt: number }>) =>
      Object.fromEntries(Object.entries(d).map(([k, v]) => [k, { dump: v.dump, expires: v.expireAt > 0 }]));
    expect(strip(withShadow)).toEqual(strip(without));
    expect(Object.keys(withShadow).sort()).toEqual([`apikey:${KEY}`, `last:${KEY}`, `usage:${KEY}`]);
  });

  it('a slow or crashing candidate neither slows nor breaks the client', async () => {
    variant = 'slow';
    const slow = await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeLessThan(1000); // the candidate sleeps 1500 ms before answering
    await engine().idle();
    variant = 'crash';
    const errorsBefore = summary().differing + summary().errors;
    const crash = await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    expect(crash.status).toBe(200);
    expect(JSON.parse(crash.text)).toMatchObject({ id: 'msg_1' });
    await engine().idle();
    expect(summary().differing + summary().errors).toBe(errorsBefore + 1);
    expect(engine().results.differences()[0]!.differences[0]).toMatchObject({ path: 'response.status', expected: '200', actual: '500' });
  });

  it('reports on the admin port and saves a difference into a compat suite', async () => {
    variant = 'hash';
    await send(gw.dataPort, { model: 'claude-x', messages: [1] });
    await engine().idle();
    const id = engine().results.differences()[0]!.id;
    const json = (await (await fetch(`${admin}/gateway/shadow`)).json()) as { routes: Array<{ routeId: string; differing: number }> };
    expect(json.routes.find((r) => r.routeId === 'toy-messages')!.differing).toBeGreaterThan(0);
    const html = await (await fetch(`${admin}/gateway/shadow?format=html`)).text();
    expect(html).toContain(`redis.usage:${KEY}.field.tokens`);
    const metrics = await (await fetch(`${admin}/gateway/metrics`)).text();
    expect(metrics).toMatch(/gateway_shadow_differing_total\{part="side_effects",route="toy-messages"\} \d+/);
    const exchange = parseExchange(await (await fetch(`${admin}/gateway/shadow/differences/${id}/exchange`)).json(), 'admin');
    expect(exchange.redis.before[`usage:${KEY}`]).toMatchObject({ type: 'hash', value: { requests: '5', tokens: '100' } });
    expect(exchange.redis.after[`usage:${KEY}`]).toMatchObject({ value: { requests: '6', tokens: '117' } });
    expect(exchange.upstream).toHaveLength(1);
    const dir = mkdtempSync(join(tmpdir(), 'shadow-suite-'));
    try {
      const saved = await saveShadowDifference({ admin, id, suiteDir: join(dir, 'captured'), suite: 'captured' });
      const suite = readSuite(join(dir, 'captured'));
      expect(suite.manifest.exchanges).toEqual([saved.name]);
      expect(suite.exchanges[0]!.request.path).toBe('/api/v1/messages');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
