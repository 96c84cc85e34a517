/**
 * Shadow mode cost for the client: TTFB (first body byte) and total time of the same requests
 * through a gateway whose route is in `shadow` mode (taps, sandbox, serial candidate runs and
 * comparison in the gateway process) and through one in plain `legacy` mode. Each stack runs in
 * its own process; the load generator is this process; rounds alternate between the two.
 * Also reports what the shadow did meanwhile (compared / identical / dropped).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { printTable, summarize } from '../lib/percentiles.js';

export const title = 'Shadow mode: client TTFB and total time, shadow on vs off';

const child = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'gateway', 'shadow', 'testing', 'bench-child.ts');

interface Side {
  latency: number[];
  firstByte: number[];
  requests: number;
  errors: number;
}

async function measure(url: string, opts: Partial<LoadOptions>, ms: number, into: Side): Promise<void> {
  const r = await runLoad({ connections: 1, ...opts, url, durationMs: ms, keepSamples: true, warmupRequests: 10 });
  into.latency.push(...r.samples!.latency);
  into.firstByte.push(...r.samples!.firstByte);
  into.requests += r.requests;
  into.errors += r.errors;
}

export async function run(): Promise<void> {
  type Info = { port: number; admin: number };
  const off = await startChild<Info>(child, { BENCH_SHADOW: 'off' }, 30_000);
  const taps = await startChild<Info>(child, { BENCH_SHADOW: 'on', BENCH_SAMPLE_RATE: '0' }, 30_000);
  const tenth = await startChild<Info>(child, { BENCH_SHADOW: 'on', BENCH_SAMPLE_RATE: '0.1' }, 30_000);
  const on = await startChild<Info>(child, { BENCH_SHADOW: 'on', BENCH_SAMPLE_RATE: '1' }, 30_000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
  const roundMs = Number(process.env.BENCH_ROUND_MS ?? 600);
  const many = Number(process.env.BENCH_CONNECTIONS ?? 4);
  const headers = { 'content-type': 'application/json', 'x-api-key': 'bench' };
  const cases = [
    { name: 'JSON', body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) },
    { name: 'SSE 4 events', body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }) },
  ];
  const rows: Array<Array<string | number>> = [];
  try {
    for (const connections of [1, many]) {
      for (const c of cases) {
        const sides = [
          { name: 'shadow off', port: off.info.port },
          { name: 'taps only (sampleRate 0)', port: taps.info.port },
          { name: 'shadow on (sampleRate 0.1)', port: tenth.info.port },
          { name: 'shadow on (sampleRate 1)', port: on.info.port },
        ].map((x) => ({ ...x, m: { latency: [], firstByte: [], requests: 0, errors: 0 } as Side }));
        const extra: Partial<LoadOptions> = { method: 'POST', body: c.body, headers, connections };
        for (let i = 0; i < rounds; i++) {
          for (const side of sides) await measure(`http://127.0.0.1:${side.port}/api/v1/messages`, extra, roundMs, side.m);
        }
        const base = { l: summarize(sides[0]!.m.latency), f: summarize(sides[0]!.m.firstByte) };
        for (const side of sides) {
          const sm = { l: summarize(side.m.latency), f: summarize(side.m.firstByte) };
          rows.push([`${c.name} c=${connections} ${side.name}`, side.m.requests, sm.f.p50, sm.f.p99, sm.l.p50, sm.l.p99, side.m.errors]);
          if (side !== sides[0]) {
            const r = (x: number, y: number) => `x${(x / y).toFixed(2)}`;
            rows.push([`  vs off`, '', r(sm.f.p50, base.f.p50), r(sm.f.p99, base.f.p99), r(sm.l.p50, base.l.p50), r(sm.l.p99, base.l.p99), '']);
          }
        }
      }
    }
    for (const [label, side] of [['sampleRate 0.1', tenth], ['sampleRate 1', on]] as const) {
      const s = (await (await fetch(`http://127.0.0.1:${side.info.admin}/gateway/shadow`)).json()) as {
        routes: Array<{ routeId: string; compared: number; identical: number; differing: number; errors: number; dropped: number }>;
      };
      const metrics = await (await fetch(`http://127.0.0.1:${side.info.admin}/gateway/metrics`)).text();
      const teeDropped = [...metrics.matchAll(/^gateway_shadow_dropped_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      for (const r of s.routes) {
        console.log(`${label}: shadow meanwhile (${r.routeId}): compared ${r.compared}, identical ${r.identical}, differing ${r.differing}, errors ${r.errors}, dropped by the comparison queue ${r.dropped}, dropped by the tee (not sampled / max in flight) ${teeDropped}`);
      }
    }
  } finally {
    await on.stop();
    await tenth.stop();
    await taps.stop();
    await off.stop();
  }
  console.log(`${rounds} alternating rounds of ${roundMs} ms per side; times in ms (TTFB = first body byte); ratios against shadow off`);
  printTable(['case', 'requests', 'ttfb p50', 'ttfb p99', 'total p50', 'total p99', 'errors'], rows);
}
