import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gateway } from '../create.js';
import type { RoutingTableInput } from '../routing/schema.js';
import { startTestGateway } from '../testing/gateway.js';
import { sseModule, throwingModule } from '../testing/modules.js';
import { startOrigin, type Origin } from '../testing/origin.js';

let origin: Origin;
let gw: Gateway;

const tableFor = (mode: 'legacy' | 'migrated' | 'canary', version: string): RoutingTableInput => ({
  version,
  routes: [
    { id: 'sse', methods: ['GET'], paths: ['/sse/*'], mode, module: 'sse', ...(mode === 'canary' ? { canary: { percent: 50 } } : {}) },
    { id: 'boom', methods: ['GET'], paths: ['/boom'], mode: 'migrated', module: 'throw' },
  ],
});

beforeAll(async () => {
  origin = await startOrigin();
  gw = await startTestGateway(origin.url, {
    table: tableFor('legacy', 'v0'),
    modules: { sse: async () => sseModule, throw: async () => throwingModule },
  });
});
afterAll(async () => {
  await gw?.close();
  await origin?.close();
});

function stream(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whole stream from one side: n events in order, all in that side's format, ending with `done`. */
function sideOf(text: string, events: number): 'legacy' | 'migrated' | 'broken' {
  const blocks = text.split('\n\n').filter(Boolean);
  if (blocks.length !== events) return 'broken';
  const migrated = blocks.every((b, i) => b.endsWith(`{"n":${i + 1},"side":"migrated"}`));
  const legacy = blocks.every((b, i) => b.endsWith(`{"n":${i + 1}}`));
  if (!blocks[events - 1]!.startsWith('event: done')) return 'broken';
  return migrated ? 'migrated' : legacy ? 'legacy' : 'broken';
}

describe('hot flips', () => {
  it('50 table flips while 200 streams run: no failure, every stream whole from one side', async () => {
    const events = 8;
    const streams: Array<Promise<{ status: number; text: string }>> = [];
    const modes = ['migrated', 'legacy', 'canary'] as const;
    let flips = 0;
    const flipper = (async () => {
      for (let i = 1; i <= 50; i++) {
        const r = gw.applyTable(tableFor(modes[i % 3]!, `v${i}`), 'test');
        if (r.ok) flips++;
        await new Promise((r) => setTimeout(r, 6));
      }
    })();
    for (let i = 0; i < 200; i++) {
      streams.push(stream(gw.dataPort, `/sse/${events}/25`, { 'x-api-key': `cr_key_${i}` }));
      if (i % 4 === 3) await new Promise((r) => setTimeout(r, 1));
    }
    const results = await Promise.all(streams);
    await flipper;
    expect(flips).toBe(50);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const sides = results.map((r) => sideOf(r.text, events));
    expect(sides.filter((s) => s === 'broken')).toEqual([]);
    // Both sides really served streams during the flips.
    expect(sides.filter((s) => s === 'legacy').length).toBeGreaterThan(0);
    expect(sides.filter((s) => s === 'migrated').length).toBeGreaterThan(0);
    expect(gw.liveTable().version).toBe('v50');
  });

  it('rejects an invalid table, keeps serving with the old one, and reports the error', async () => {
    expect(gw.applyTable(tableFor('migrated', 'good'), 'test').ok).toBe(true);
    const errorsBefore = gw.metrics.reloadErrors.total();
    const bad = gw.applyTable({ routes: [{ id: 'sse', paths: ['/sse/*'], mode: 'migrated', module: 'missing' }] }, 'test-bad');
    expect(bad.ok).toBe(false);
    expect(gw.metrics.reloadErrors.total()).toBe(errorsBefore + 1);
    expect(gw.liveTable().version).toBe('good');
    const r = await stream(gw.dataPort, '/sse/3/1');
    expect(sideOf(r.text, 3)).toBe('migrated');
    const routes = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/routes`)).json()) as {
      version: string;
      lastError: { source: string; errors: string[] };
    };
    expect(routes.version).toBe('good');
    expect(routes.lastError.source).toBe('test-bad');
    expect(routes.lastError.errors[0]).toMatch(/route "sse" field module: unknown migrated module "missing"/);
  });

  it('reload() without a table source re-validates the live table instead of reverting to the start table', async () => {
    expect(gw.applyTable(tableFor('migrated', 'later'), 'test').ok).toBe(true);
    const r = await gw.reload();
    expect(r.ok).toBe(true);
    expect(gw.liveTable().version).toBe('later');
  });

  it('a module that throws before writing gives a 500 in the legacy error shape', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.dataPort}/boom`);
    expect(res.status).toBe(500);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body)).toEqual(['error', 'message', 'timestamp']);
    expect(body.error).toBe('Internal Server Error');
  });
});
