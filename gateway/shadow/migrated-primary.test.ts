import { pino } from 'pino';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { loadConfig } from '../config/env.js';
import { createGateway, type Gateway } from '../create.js';
import { startShadowMode, type ShadowMode } from './setup.js';
import { startCountingUpstream, type CountingUpstream } from './testing/counting-upstream.js';
import { startToyOrigin, toyModuleFactory } from './testing/toy-service.js';
import type { MigratedModuleFactory } from '../../migrated/module.js';
import { readLegacyBody } from '../../migrated/http/body.js';
import { defaultHttpSurface } from '../../migrated/http/legacy-surface.js';

/**
 * Primary = migrated, candidate = legacy. The legacy candidate is LEGACY_URL: it may only run when
 * that legacy's Redis is the sandbox overlay (legacyCandidateSandboxed); otherwise the copy is
 * dropped and counted, and the legacy never sees it.
 */

const KEY = 'cr_mig_key';

async function stack(sandboxed: boolean, module?: MigratedModuleFactory) {
  const prod = await startPrivateRedis();
  const box = await startPrivateRedis();
  const seed = prod.client();
  await seed.hset(`apikey:${KEY}`, 'name', 'k', 'upstreamKey', 'sk');
  const upstream = await startCountingUpstream(2);
  const shadow = await startShadowMode({
    log: pino({ level: 'silent' }),
    production: { host: prod.host, port: prod.port },
    sandbox: { host: box.host, port: box.port },
    upstreamTarget: upstream.url,
    settleMs: 60,
    legacyCandidateSandboxed: sandboxed,
  });
  // The legacy is the candidate: its Redis is the sandbox overlay, its upstream the tap's candidate side.
  const legacyRedis = new Redis({ host: '127.0.0.1', port: shadow.overlayPort! });
  const legacy = await startToyOrigin(legacyRedis, shadow.upstreamTap!.candidateUrl);
  const primaryRedis = new Redis({ host: '127.0.0.1', port: shadow.primaryRedisPort });
  const gw: Gateway = await createGateway({
    config: loadConfig({ GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', LEGACY_URL: legacy.url, LOG_LEVEL: 'silent' }),
    table: {
      routes: [
        { id: 'toy', methods: ['POST'], paths: ['/api/v1/messages'], mode: 'shadow', module: 'toy', shadow: { primary: 'migrated', sampleRate: 1, maxInFlight: 4, maxBodyBytes: 100_000 } },
      ],
    },
    logger: pino({ level: 'silent' }),
    deps: { redis: primaryRedis, upstreamOverride: shadow.upstreamPrimaryUrl! },
    modules: { toy: async () => module ?? toyModuleFactory(() => 'same', upstream.url) },
    shadowSink: shadow.sink,
    adminExtensions: [shadow.admin],
  });
  shadow.attach(gw);
  return {
    prod,
    gw,
    shadow,
    upstream,
    async close() {
      await gw.close();
      legacyRedis.disconnect();
      primaryRedis.disconnect();
      await shadow.close();
      await legacy.close();
      await upstream.close();
      await prod.stop();
      await box.stop();
    },
  };
}

async function send(gw: Gateway): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${gw.dataPort}/api/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': KEY },
    body: JSON.stringify({ model: 'm', stream: true, messages: [1] }),
  });
  await res.text();
  return res.status;
}

describe('shadow with a migrated primary and the legacy as candidate', () => {
  let s: ShadowMode;
  let st: Awaited<ReturnType<typeof stack>>;
  beforeAll(async () => {
    st = await stack(true);
    s = st.shadow;
  });
  afterAll(async () => st?.close());

  it('compares both ways round: responses, upstream and side effects, production written once', async () => {
    for (let i = 0; i < 2; i++) {
      expect(await send(st.gw)).toBe(200);
      await s.engine.idle();
    }
    const r = s.engine.results.routes()[0]!;
    expect(r).toMatchObject({ compared: 2, identical: 2, differing: 0 });
    expect(r.sideEffects.identical).toBe(2);
    expect(st.upstream.calls).toHaveLength(2);
    expect(await st.prod.client().hgetall(`usage:${KEY}`)).toEqual({ requests: '2', tokens: '34' });
  });
});

describe('a legacy candidate that is not sandboxed', () => {
  it('is never called: the copy is dropped and counted', async () => {
    const st = await stack(false);
    try {
      expect(await send(st.gw)).toBe(200);
      await st.shadow.engine.idle();
      const r = st.shadow.engine.results.routes()[0]!;
      expect(r).toMatchObject({ compared: 0, dropped: 1 });
      const metrics = await (await fetch(`http://127.0.0.1:${st.gw.adminPort}/gateway/metrics`)).text();
      expect(metrics).toContain('gateway_shadow_comparison_dropped_total{reason="legacy_candidate_not_sandboxed",route="toy"} 1');
      expect(st.upstream.calls).toHaveLength(1);
    } finally {
      await st.close();
    }
  });
});

/** A module that answers a broken JSON body at once, as the relay does (400 before any Redis or upstream call). */
const rejectsBrokenJson: MigratedModuleFactory = () => ({
  name: 'toy',
  async handle(req, res) {
    const r = await readLegacyBody(req, defaultHttpSurface);
    const body = JSON.stringify(r.ok ? { ok: true } : { error: 'bad' });
    res.writeHead(r.ok ? 200 : 400, ['Content-Type', 'application/json', 'Content-Length', String(body.length)]).end(body);
  },
});

describe('a request the migrated primary rejects at once', () => {
  it('is still copied whole and compared (its body has ended before the response closes), not dropped as incomplete_body', async () => {
    const st = await stack(true, rejectsBrokenJson);
    try {
      const res = await fetch(`http://127.0.0.1:${st.gw.dataPort}/api/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEY }, body: '{"model": ' });
      expect(res.status).toBe(400);
      await res.text();
      await st.shadow.engine.idle();
      const metrics = await (await fetch(`http://127.0.0.1:${st.gw.adminPort}/gateway/metrics`)).text();
      expect(metrics).not.toContain('gateway_shadow_dropped_total{reason="incomplete_body"');
      expect(st.shadow.engine.results.routes()[0]!.compared).toBe(1);
    } finally {
      await st.close();
    }
  });
});
