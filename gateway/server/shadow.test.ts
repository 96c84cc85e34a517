import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../create.js';
import type { RoutingTableInput } from '../routing/schema.js';
import { startTestGateway } from '../testing/gateway.js';
import { echoModule } from '../testing/modules.js';
import { startOrigin, type Origin } from '../testing/origin.js';
import type { CapturedResponse, ShadowSink, TeeExchange } from './shadow-sink.js';

let origin: Origin;
let gw: Gateway;
const exchanges: Array<{ x: TeeExchange; primary: CapturedResponse; candidate: CapturedResponse }> = [];
let release: (() => void) | null = null;
let hold: Promise<void> | null = null;

const sink: ShadowSink = {
  async onExchange(x) {
    const [primary, candidate] = await Promise.all([x.primaryResponse, x.runCandidate()]);
    exchanges.push({ x, primary, candidate });
    if (hold) await hold;
  },
};

const table = (shadow: Record<string, unknown>): RoutingTableInput => ({
  routes: [{ id: 'echo', methods: ['POST'], paths: ['/echo'], mode: 'shadow', module: 'echo', shadow }],
});

beforeAll(async () => {
  origin = await startOrigin();
  // No trusted proxy: the test client is the client, so copies get X-Real-IP / X-Forwarded-* set (legacy-bridge/client-address.test.ts covers trusted peers).
  gw = await startTestGateway(origin.url, { env: { GATEWAY_TRUSTED_PROXIES: 'none' }, table: table({}), modules: { echo: async () => echoModule }, shadowSink: sink });
});
afterAll(async () => {
  release?.();
  await gw?.close();
  await origin?.close();
});

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

const post = (body: string) => fetch(`http://127.0.0.1:${gw.dataPort}/echo?x=1`, { method: 'POST', body, headers: { 'X-Test': 'a' } });

describe('shadow tee', () => {
  it('serves the client from the primary untouched and hands request + both responses to the sink', async () => {
    exchanges.length = 0;
    const res = await post('hello shadow');
    const clientBody = await res.text();
    const direct = await (await fetch(`${origin.url}/echo?x=1`, { method: 'POST', body: 'hello shadow', headers: { 'X-Test': 'a' } })).json();
    // Client got the legacy's answer (primary legacy), not the module's.
    expect(JSON.parse(clientBody).method).toBe('POST');
    expect(JSON.parse(clientBody).side).toBeUndefined();
    expect(JSON.parse(clientBody).length).toBe((direct as { length: number }).length);

    await until(() => exchanges.length === 1);
    const { x, primary, candidate } = exchanges[0]!;
    expect(x.routeId).toBe('echo');
    expect(x.primary).toBe('legacy');
    expect(x.candidate).toBe('migrated');
    expect(x.request.method).toBe('POST');
    expect(x.request.url).toBe('/echo?x=1');
    expect(x.request.body.toString()).toBe('hello shadow');
    expect(x.request.rawHeaders).toContain('X-Test');
    expect(primary.status).toBe(200);
    expect(primary.body.toString()).toBe(clientBody);
    expect(primary.rawHeaders.filter((_, i) => i % 2 === 0)).toContain('Content-Type');
    expect(candidate.status).toBe(200);
    const cand = JSON.parse(candidate.body.toString()) as { side: string; body: string; url: string };
    expect(cand).toMatchObject({ side: 'migrated', body: 'hello shadow', url: '/echo?x=1' });
    expect(gw.metrics.shadowTeed.get({ route: 'echo' })).toBe(1);
  });

  it('with primary migrated, the module serves and the legacy gets the copy', async () => {
    exchanges.length = 0;
    expect(gw.applyTable(table({ primary: 'migrated' }), 'test').ok).toBe(true);
    const res = await post('abc');
    expect(((await res.json()) as { side: string }).side).toBe('migrated');
    await until(() => exchanges.length === 1);
    expect(exchanges[0]!.candidate.status).toBe(200);
    expect((JSON.parse(exchanges[0]!.candidate.body.toString()) as { side?: string }).side).toBeUndefined();
    expect(exchanges[0]!.primary.body.toString()).toContain('"side":"migrated"');
    // The legacy got the copy like the bridge sends requests: client headers in order, plus X-Real-IP / XFF.
    const seen = origin.seen[origin.seen.length - 1]!;
    expect(seen.url).toBe('/echo?x=1');
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.indexOf('x-test')).toBeLessThan(names.indexOf('content-length'));
    expect(seen.rawHeaders[seen.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-real-ip') + 1]).toBe('127.0.0.1');
    expect(names).not.toContain('x-gateway-candidate-token');
  });

  it('drops and counts: not sampled, body too large, too many in flight — the client is served either way', async () => {
    exchanges.length = 0;
    gw.applyTable(table({ sampleRate: 0 }), 'test');
    expect((await post('a')).status).toBe(200);
    expect(gw.metrics.shadowDropped.get({ route: 'echo', reason: 'not_sampled' })).toBe(1);

    gw.applyTable(table({ maxBodyBytes: 10 }), 'test');
    expect(((await (await post('x'.repeat(5000))).json()) as { length: number }).length).toBe(5000);
    expect(gw.metrics.shadowDropped.get({ route: 'echo', reason: 'body_too_large' })).toBe(1);

    gw.applyTable(table({ maxInFlight: 2 }), 'test');
    hold = new Promise((r) => (release = r));
    const results = await Promise.all([post('1'), post('2'), post('3'), post('4')]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    await until(() => exchanges.length === 2);
    expect(gw.metrics.shadowDropped.get({ route: 'echo', reason: 'max_in_flight' })).toBe(2);
    release!();
    hold = null;
    await until(() => exchanges.length === 2 && gw.metrics.shadowDropped.total() === 4);
    expect(exchanges.length).toBe(2);
  });
});
