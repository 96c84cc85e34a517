import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTable } from '../cli/table-format.js';
import type { Gateway } from '../create.js';
import { writeTableFileAtomic } from '../routing/table-file.js';
import { startTestGateway } from '../testing/gateway.js';
import { echoModule } from '../testing/modules.js';
import { startOrigin, type Origin } from '../testing/origin.js';

let origin: Origin;
let gw: Gateway;
let dir: string;
let file: string;
const table = (mode: 'legacy' | 'migrated', version: string) => ({
  version,
  routes: [{ id: 'echo', methods: ['POST'], paths: ['/echo'], mode, module: 'echo' }],
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-reload-'));
  file = join(dir, 'routing-table.json');
  writeFileSync(file, formatTable(table('legacy', 'f1')));
  origin = await startOrigin();
  gw = await startTestGateway(origin.url, { table: undefined, env: { ROUTING_TABLE: file }, modules: { echo: async () => echoModule } });
});
afterAll(async () => {
  await gw?.close();
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

const side = async () => {
  const r = (await (await fetch(`http://127.0.0.1:${gw.dataPort}/echo`, { method: 'POST', body: 'x' })).json()) as { side?: string };
  return r.side ?? 'legacy';
};
const waitFor = async (cond: () => Promise<boolean> | boolean, ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await cond()) return performance.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`condition not met within ${ms} ms`);
};

describe('hot reload from the file', () => {
  it('applies an atomically written table within 1 s', async () => {
    expect(await side()).toBe('legacy');
    const t0 = performance.now();
    await writeTableFileAtomic(file, table('migrated', 'f2'));
    const t1 = await waitFor(() => gw.liveTable().version === 'f2', 1000);
    expect(t1 - t0).toBeLessThan(1000);
    expect(await side()).toBe('migrated');
    expect(gw.metrics.reloads.total()).toBeGreaterThanOrEqual(1);
  });

  it('keeps the last good table when the file becomes invalid, and shows the error on /gateway/routes', async () => {
    const errors = gw.metrics.reloadErrors.total();
    writeFileSync(file, '{"routes": [ {"id": "echo", ');
    await waitFor(() => gw.metrics.reloadErrors.total() > errors, 1000);
    expect(gw.liveTable().version).toBe('f2');
    expect(await side()).toBe('migrated');
    const routes = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/routes`)).json()) as {
      version: string;
      lastError: { errors: string[] } | null;
    };
    expect(routes.version).toBe('f2');
    expect(routes.lastError?.errors[0]).toMatch(/invalid JSON/);
  });

  it('POST /gateway/reload re-reads the file and reports the result', async () => {
    await writeTableFileAtomic(file, table('legacy', 'f3'));
    const res = await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/reload`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { ok: boolean; version: string }).version).toBe('f3');
    expect(await side()).toBe('legacy');
    writeFileSync(file, JSON.stringify({ routes: [{ id: 'echo', paths: ['/echo'], mode: 'migrated', module: 'nope' }] }));
    const bad = await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/reload`, { method: 'POST' });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { error: string }).error).toMatch(/route "echo" field module/);
    expect(gw.liveTable().version).toBe('f3');
  });
});

describe('admin endpoints', () => {
  it('GET /gateway/health reports the legacy reachable and the table version', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/health`);
    const body = (await res.json()) as { status: string; legacy: { reachable: boolean }; routingTable: { version: string } };
    expect(res.status).toBe(200);
    expect(body.legacy.reachable).toBe(true);
    expect(body.routingTable.version).toBe(gw.liveTable().version);
  });

  it('GET /gateway/metrics exposes requests, latency histograms and reload counters in Prometheus text', async () => {
    await side();
    const text = await (await fetch(`http://127.0.0.1:${gw.adminPort}/gateway/metrics`)).text();
    expect(text).toMatch(/^gateway_requests_total\{mode="legacy",route="echo",side="legacy",status="2xx"\} \d+$/m);
    expect(text).toMatch(/^gateway_request_duration_seconds_bucket\{mode="legacy",route="echo",side="legacy",le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^gateway_table_reloads_total \d+$/m);
    expect(text).toMatch(/^gateway_table_reload_errors_total \d+$/m);
  });

  it('the data port does not serve gateway paths (they go to the legacy)', async () => {
    const res = await fetch(`http://127.0.0.1:${gw.dataPort}/gateway/routes`);
    expect(res.status).toBe(404);
    expect(origin.seen.some((s) => s.url === '/gateway/routes')).toBe(true);
  });
});

describe('drain', () => {
  it('close() lets an in-flight stream finish and refuses new connections', async () => {
    const g = await startTestGateway(origin.url);
    const text = new Promise<string>((resolve, reject) => {
      const req = request({ port: g.dataPort, host: '127.0.0.1', path: '/sse/5/60' }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (t += d));
        res.on('end', () => resolve(t));
      });
      req.on('error', reject);
      req.end();
    });
    await waitFor(() => g.inFlight() === 1, 1000);
    const closed = g.close();
    await new Promise((r) => setTimeout(r, 20));
    await expect(fetch(`http://127.0.0.1:${g.dataPort}/bytes/1`)).rejects.toThrow();
    expect(await text).toMatch(/event: done\ndata: \{"n":5\}\n\n$/);
    await closed;
  });
});
