/**
 * Gateway overhead: the same requests straight to the origin and through the gateway (legacy mode, request
 * log on). Origin and gateway each run in their own process; the load generator is this process.
 * The two sides are measured in alternating short rounds so drifting machine load hits both equally.
 * Cases: small JSON GET, 10 kB POST, SSE stream (5 events, 2 ms apart). Two loads: 1 connection
 * (pure added latency) and BENCH_CONNECTIONS (default 8) keep-alive connections (throughput).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateTable } from '../../gateway/routing/validate.js';
import { knownModuleNames } from '../../migrated/registry.js';
import { startChild } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { printTable, summarize } from '../lib/percentiles.js';

export const title = 'Gateway overhead: direct to origin vs through the gateway';

const helpers = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'gateway-bench');

interface Side {
  latency: number[];
  firstByte: number[];
  requests: number;
  errors: number;
  ms: number;
}

async function measure(url: string, opts: Partial<LoadOptions>, ms: number, into: Side): Promise<void> {
  const r = await runLoad({ connections: 1, ...opts, url, durationMs: ms, keepSamples: true, warmupRequests: 20 });
  into.latency.push(...r.samples!.latency);
  into.firstByte.push(...r.samples!.firstByte);
  into.requests += r.requests;
  into.errors += r.errors;
  into.ms += r.durationMs;
}

/** Route matching on the project's routing table: mean cost of one match() over a mix of paths. */
function matchCost(): { perMatchUs: number; routes: number } {
  const raw = JSON.parse(readFileSync(join(helpers, '..', '..', '..', 'routing-table.json'), 'utf8')) as unknown;
  const r = validateTable(raw, { knownModules: knownModuleNames() });
  if (!r.ok) throw new Error(r.errors.join('; '));
  const paths: Array<[string, string]> = [
    ['POST', '/api/v1/messages'],
    ['POST', '/claude/v1/messages/count_tokens?beta=true'],
    ['GET', '/api/v1/models'],
    ['POST', '/admin/claude-accounts/6f1c/reset-status'],
    ['POST', '/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent'],
    ['GET', '/api/v1/does-not-exist'],
  ];
  const n = 200_000;
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const [m, p] = paths[i % paths.length]!;
    if (r.compiled.match(m, p)) hits++;
  }
  const us = ((performance.now() - t0) * 1000) / n;
  if (hits !== n) throw new Error('unmatched path in the bench mix');
  return { perMatchUs: us, routes: r.table.routes.length };
}

export async function run(): Promise<void> {
  const mc = matchCost();
  console.log(`route match: ${mc.perMatchUs.toFixed(3)} µs per request (${mc.routes} routes, precompiled trie)`);
  const origin = await startChild(join(helpers, 'origin.ts'));
  const originUrl = `http://127.0.0.1:${origin.info.port}`;
  const gateway = await startChild(join(helpers, 'gateway.ts'), { LEGACY_URL: originUrl });
  const gatewayUrl = `http://127.0.0.1:${gateway.info.port}`;
  const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
  const roundMs = Number(process.env.BENCH_ROUND_MS ?? 600);
  const many = Number(process.env.BENCH_CONNECTIONS ?? 8);
  const body10k = Buffer.alloc(10 * 1024, 'a');
  const cases: Array<{ name: string; path: string; extra: Partial<LoadOptions> }> = [
    { name: 'GET small JSON', path: '/json', extra: {} },
    { name: 'POST 10 kB', path: '/post', extra: { method: 'POST', body: body10k, headers: { 'content-type': 'application/json' } } },
    { name: 'SSE 5 events', path: '/sse', extra: {} },
  ];
  const rows: Array<Array<string | number>> = [];
  try {
    for (const connections of [1, many]) {
      for (const c of cases) {
        const direct: Side = { latency: [], firstByte: [], requests: 0, errors: 0, ms: 0 };
        const via: Side = { latency: [], firstByte: [], requests: 0, errors: 0, ms: 0 };
        for (let i = 0; i < rounds; i++) {
          await measure(originUrl + c.path, { ...c.extra, connections }, roundMs, direct);
          await measure(gatewayUrl + c.path, { ...c.extra, connections }, roundMs, via);
        }
        const d = { l: summarize(direct.latency), f: summarize(direct.firstByte), rps: (direct.requests / direct.ms) * 1000 };
        const g = { l: summarize(via.latency), f: summarize(via.firstByte), rps: (via.requests / via.ms) * 1000 };
        const label = `${c.name} c=${connections}`;
        rows.push([`${label} direct`, d.rps, d.l.p50, d.l.p99, d.f.p50, direct.errors]);
        rows.push([`${label} gateway`, g.rps, g.l.p50, g.l.p99, g.f.p50, via.errors]);
        rows.push([
          `${label} added`,
          `x${(g.rps / d.rps).toFixed(2)}`,
          `+${(g.l.p50 - d.l.p50).toFixed(3)}`,
          `+${(g.l.p99 - d.l.p99).toFixed(3)}`,
          `+${(g.f.p50 - d.f.p50).toFixed(3)}`,
          '',
        ]);
      }
    }
  } finally {
    await gateway.stop();
    await origin.stop();
  }
  console.log(`${rounds} alternating rounds of ${roundMs} ms per side; latency and TTFB (first body byte) in ms; rps ratio gateway/direct`);
  printTable(['case', 'rps', 'p50', 'p99', 'ttfb p50', 'errors'], rows);
  await againstRealLegacy(rounds, roundMs, many);
}

/** The same comparison in front of the real legacy at LEGACY_URL (its JSON 404: no key, no side effects). */
async function againstRealLegacy(rounds: number, roundMs: number, many: number): Promise<void> {
  const legacyUrl = process.env.LEGACY_URL ?? 'http://127.0.0.1:3000';
  const reachable = await fetch(`${legacyUrl}/health`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.status > 0,
    () => false,
  );
  if (!reachable) {
    console.log(`real legacy: ${legacyUrl} not reachable, skipped (start the legacy lab to include it)`);
    return;
  }
  const gateway = await startChild(join(helpers, 'gateway.ts'), { LEGACY_URL: legacyUrl });
  const rows: Array<Array<string | number>> = [];
  try {
    for (const connections of [1, many]) {
      const direct: Side = { latency: [], firstByte: [], requests: 0, errors: 0, ms: 0 };
      const via: Side = { latency: [], firstByte: [], requests: 0, errors: 0, ms: 0 };
      for (let i = 0; i < rounds; i++) {
        await measure(`${legacyUrl}/api/v1/does-not-exist`, { connections }, roundMs, direct);
        await measure(`http://127.0.0.1:${gateway.info.port}/api/v1/does-not-exist`, { connections }, roundMs, via);
      }
      const d = { l: summarize(direct.latency), rps: (direct.requests / direct.ms) * 1000 };
      const g = { l: summarize(via.latency), rps: (via.requests / via.ms) * 1000 };
      rows.push([`legacy 404 c=${connections} direct`, d.rps, d.l.p50, d.l.p99, direct.errors]);
      rows.push([`legacy 404 c=${connections} gateway`, g.rps, g.l.p50, g.l.p99, via.errors]);
      rows.push([`legacy 404 c=${connections} added`, `x${(g.rps / d.rps).toFixed(2)}`, `+${(g.l.p50 - d.l.p50).toFixed(3)}`, `+${(g.l.p99 - d.l.p99).toFixed(3)}`, '']);
    }
  } finally {
    await gateway.stop();
  }
  console.log(`real legacy at ${legacyUrl} (GET /api/v1/does-not-exist):`);
  printTable(['case', 'rps', 'p50', 'p99', 'errors'], rows);
}
