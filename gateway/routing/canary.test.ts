import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../create.js';
import { startTestGateway } from '../testing/gateway.js';
import { echoModule } from '../testing/modules.js';
import { startOrigin, type Origin } from '../testing/origin.js';
import { bucketOf, canarySide } from './canary.js';

let origin: Origin;
let gw: Gateway;

const table = (percent: number) => ({
  routes: [{ id: 'echo', methods: ['POST' as const], paths: ['/echo'], mode: 'canary' as const, module: 'echo', canary: { percent } }],
});

beforeAll(async () => {
  origin = await startOrigin();
  gw = await startTestGateway(origin.url, { table: table(30), modules: { echo: async () => echoModule } });
});
afterAll(async () => {
  await gw?.close();
  await origin?.close();
});

async function sideFor(headers: Record<string, string>): Promise<'migrated' | 'legacy'> {
  const res = await fetch(`http://127.0.0.1:${gw.dataPort}/echo`, { method: 'POST', body: 'x', headers });
  const body = (await res.json()) as { side?: string };
  return body.side === 'migrated' ? 'migrated' : 'legacy';
}

describe('canary', () => {
  it('is sticky per API key: one key always lands on the same side', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `cr_${i.toString(16).padStart(8, '0')}`);
    const first = await Promise.all(keys.map((k) => sideFor({ 'x-api-key': k })));
    for (let round = 0; round < 3; round++) {
      expect(await Promise.all(keys.map((k) => sideFor({ 'x-api-key': k })))).toEqual(first);
    }
    // The same key through another header the legacy accepts lands on the same side.
    expect(await Promise.all(keys.map((k) => sideFor({ authorization: `Bearer ${k}` })))).toEqual(first);
    // Sides follow the hash, so both occur at 30 %.
    expect(first).toEqual(keys.map((k) => canarySide(`key:${k}`, 30)));
    expect(first).toContain('migrated');
    expect(first).toContain('legacy');
  });

  it('uses the client IP when there is no key', async () => {
    const expected = canarySide('ip:127.0.0.1', 30);
    for (let i = 0; i < 5; i++) expect(await sideFor({})).toBe(expected);
  });

  it('raising the percent only moves keys from legacy to migrated, never back', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `key-${i}`);
    const at30 = await Promise.all(keys.map((k) => sideFor({ 'x-api-key': k })));
    expect(gw.applyTable(table(70), 'test').ok).toBe(true);
    const at70 = await Promise.all(keys.map((k) => sideFor({ 'x-api-key': k })));
    at30.forEach((side, i) => {
      if (side === 'migrated') expect(at70[i]).toBe('migrated');
    });
    expect(at70.filter((s) => s === 'migrated').length).toBeGreaterThan(at30.filter((s) => s === 'migrated').length);
    gw.applyTable(table(30), 'test');
  });

  it('spreads keys evenly over the buckets', () => {
    let below = 0;
    for (let i = 0; i < 10_000; i++) if (bucketOf(`key:cr_${i}`) < 2500) below++;
    expect(below).toBeGreaterThan(2200);
    expect(below).toBeLessThan(2800);
  });
});
