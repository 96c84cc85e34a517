/**
 * Live shadow drill: drives the Claude relay routes through a gateway running in shadow mode in front of
 * the real legacy (docs/shadow.md "Live drill"), then reads GET /gateway/shadow and reports, per route,
 * compared / identical / differing / errors / dropped and the side-effect verdicts of THIS run (deltas of
 * the gateway's cumulative counters), and every difference grouped by the scenario that caused it.
 *
 *   npx tsx gateway/shadow/live-drill/drill.ts --keys /work/lab/shadow/shadow.env \
 *     [--gateway http://127.0.0.1:18790] [--admin http://127.0.0.1:18791] [--rounds 3] \
 *     [--concurrent-rounds 2] [--concurrency 4] [--groups core,errors,probe] [--out report.json] \
 *     [--reset-base http://127.0.0.1:3002]   (reverse runs: admin resets straight to the primary-side legacy)
 *
 * Phases: sequential (each request waits until the shadow engine has compared it, so the candidate never
 * reads state a later request changed), then concurrent (the core group, `--concurrency` in flight, no
 * waiting: side effects are expected "not measured").
 */
import { Agent, request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as v from 'valibot';
import { buildRequests, expectedDifferenceOf, resetRequest, RESET_AFTER, type DrillKeys, type DrillRequest, type Group } from './scenarios.js';
import { DifferenceDetailSchema, groupDifferences, outcomes, routeDeltas, scenarioOf, ShadowSummarySchema, type RecordHead, type ShadowSummary } from './report.js';

const ROUTES = ['claude-messages', 'claude-count-tokens', 'openai-claude-chat'];

const { values: opt } = parseArgs({
  options: {
    keys: { type: 'string', default: '/work/lab/shadow/shadow.env' },
    gateway: { type: 'string', default: 'http://127.0.0.1:18790' },
    admin: { type: 'string', default: 'http://127.0.0.1:18791' },
    rounds: { type: 'string', default: '3' },
    'concurrent-rounds': { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '4' },
    groups: { type: 'string', default: 'core,errors,probe' },
    'wait-ms': { type: 'string', default: '15000' },
    out: { type: 'string' },
    /** Where the admin resets go (default: through the gateway). Reverse runs: the primary-side legacy directly. */
    'reset-base': { type: 'string' },
  },
});

const KeysEnv = v.object({
  LAB_CONSOLE_KEY: v.string(),
  LAB_OAUTH_KEY: v.string(),
  LAB_POOL_KEY: v.string(),
  LAB_MAPPED_KEY: v.string(),
  AUTH_ADMIN_TOKEN: v.string(),
  LAB_CONSOLE_ACCOUNT_ID: v.string(),
  LAB_OAUTH_ACCOUNT_ID: v.string(),
});

function readKeys(file: string): DrillKeys {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Z0-9_]+)=["']?([^"'\s]*)/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  const e = v.parse(KeysEnv, env);
  return { console: e.LAB_CONSOLE_KEY, oauth: e.LAB_OAUTH_KEY, pool: e.LAB_POOL_KEY, mapped: e.LAB_MAPPED_KEY, adminToken: e.AUTH_ADMIN_TOKEN, consoleAccountId: e.LAB_CONSOLE_ACCOUNT_ID, oauthAccountId: e.LAB_OAUTH_ACCOUNT_ID };
}

/** A keep-alive client, like real API clients (a client `Connection: close` is a documented deviation, probed separately). */
const agent = new Agent({ keepAlive: true, maxSockets: 16 });
interface Sent {
  req: DrillRequest;
  status: number;
  ms: number;
  /** The response's Connection header (hop-by-hop: the shadow comparison leaves it out, the drill checks it). */
  connection?: string;
  error?: string;
}
function send(base: string, r: DrillRequest): Promise<Sent> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const body = Buffer.from(r.body, 'utf8');
    // a request saying Connection: close gets its own socket: it must not be reused (see the hop check below)
    const closing = Object.entries(r.headers).some(([k, val]) => k.toLowerCase() === 'connection' && val.toLowerCase() === 'close');
    const req = request(new URL(r.path, base), { method: r.method, agent: closing ? false : agent, headers: { ...r.headers, 'content-length': String(body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ req: r, status: res.statusCode ?? 0, ms: Math.round(performance.now() - t0), ...(res.headers.connection ? { connection: res.headers.connection } : {}) }));
      res.on('error', (err) => resolve({ req: r, status: res.statusCode ?? 0, ms: Math.round(performance.now() - t0), error: err.message }));
    });
    req.on('error', (err) => resolve({ req: r, status: 0, ms: Math.round(performance.now() - t0), error: err.message }));
    req.end(body);
  });
}

async function summary(): Promise<ShadowSummary> {
  const res = await fetch(`${opt.admin}/gateway/shadow`);
  if (!res.ok) throw new Error(`GET /gateway/shadow -> ${res.status}`);
  return v.parse(ShadowSummarySchema, await res.json());
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the shadow engine has an outcome (compared / error / dropped) for `expected` more copies, or the deadline. */
async function waitOutcomes(base: number, expected: number, deadlineMs: number): Promise<number> {
  const until = Date.now() + deadlineMs;
  let n = 0;
  while (Date.now() < until) {
    n = outcomes((await summary()).routes, ROUTES) - base;
    if (n >= expected) return n;
    await sleep(100);
  }
  return n;
}

const keys = readKeys(opt.keys);
const groups = opt.groups.split(',').map((g) => g.trim()) as Group[];
const rounds = Number(opt.rounds);
const waitMs = Number(opt['wait-ms']);
const before = await summary();
const teeDropsBefore = await teeDrops();
const noOutcome: string[] = [];
const seenIds = new Set(before.differences.map((d) => d.id));
const mockBefore = await mockStats();
const sent: Sent[] = [];
let resets = 0;
const started = new Date().toISOString();

// 1. sequential: one request at a time, each compared before the next
for (let round = 1; round <= rounds; round++) {
  for (const r of buildRequests(keys, round, groups)) {
    const base = outcomes((await summary()).routes, ROUTES);
    const s = await send(opt.gateway, r);
    sent.push(s);
    const got = await waitOutcomes(base, 1, waitMs);
    if (got < 1) {
      console.warn(`no shadow outcome within ${waitMs} ms for ${r.scenario} r${round}`);
      noOutcome.push(`${r.scenario} r${round}`);
    }
    const reset = RESET_AFTER[r.scenario];
    if (reset) {
      const rs = await send(opt['reset-base'] ?? opt.gateway, resetRequest(keys, reset));
      resets++;
      if (rs.status !== 200) console.warn(`reset ${reset} -> ${rs.status}`);
      await sleep(400); // outside any window: the activity tracker counts this request too
    }
  }
  console.log(`sequential round ${round}: ${sent.length} requests so far`);
}
const sequentialSent = sent.length;

// 2. concurrent: the core group, N in flight
const concurrentRounds = Number(opt['concurrent-rounds']);
if (concurrentRounds > 0) {
  const queue: DrillRequest[] = [];
  for (let round = 1; round <= concurrentRounds; round++) queue.push(...buildRequests(keys, 100 + round, ['core']));
  const base = outcomes((await summary()).routes, ROUTES);
  await Promise.all(
    Array.from({ length: Number(opt.concurrency) }, async () => {
      for (let r = queue.shift(); r; r = queue.shift()) sent.push(await send(opt.gateway, r));
    }),
  );
  await waitOutcomes(base, sent.length - sequentialSent, waitMs * 4);
  console.log(`concurrent: ${sent.length - sequentialSent} requests, ${opt.concurrency} in flight`);
}
await sleep(1000);
const after = await summary();
const mockAfter = await mockStats();

// attribute every new differing record to its scenario (the marker in the client's body)
const fresh = after.differences.filter((d) => !seenIds.has(d.id) && ROUTES.includes(d.routeId));
const attributed: Array<{ scenario: string; head: RecordHead }> = [];
for (const head of fresh) {
  const res = await fetch(`${opt.admin}/gateway/shadow/differences/${head.id}`);
  const detail = res.ok ? v.parse(DifferenceDetailSchema, await res.json()).detail : undefined;
  const body = detail?.request.body as { utf8?: string; base64?: string } | undefined;
  const text = body?.utf8 ?? (body?.base64 ? Buffer.from(body.base64, 'base64').toString('utf8') : '');
  attributed.push({ scenario: scenarioOf(text) ?? '(unknown)', head });
}
const deltas = routeDeltas(before.routes, after.routes, ROUTES);
const groupsOut = groupDifferences(attributed).map((g) => ({ ...g, expected: expectedDifferenceOf(g.scenario) ?? null }));
const shadowedSent = sent.filter((s) => s.req.route !== 'admin');
const report = {
  started,
  finished: new Date().toISOString(),
  gateway: opt.gateway,
  sent: { total: sent.length, sequential: sequentialSent, adminResets: resets, concurrent: sent.length - sequentialSent, shadowed: shadowedSent.length, transportErrors: sent.filter((s) => s.error).map((s) => `${s.req.scenario}: ${s.error}`) },
  statuses: Object.fromEntries(
    [...new Set(shadowedSent.map((s) => s.req.scenario))].map((sc) => [sc, [...new Set(shadowedSent.filter((s) => s.req.scenario === sc).map((s) => s.status))].join(',')]),
  ),
  routes: deltas,
  /** Copies the gateway's tee never made or abandoned (gateway_shadow_dropped_total deltas by route and reason): they reach no engine outcome. */
  teeDrops: diffCounts(teeDropsBefore, await teeDrops()),
  /** Sequential requests that got no shadow outcome within --wait-ms. */
  noOutcome,
  upstream: {
    tapForwarded: (after.upstreamTap?.forwarded ?? 0) - (before.upstreamTap?.forwarded ?? 0),
    tapTunnels: (after.upstreamTap?.tunnels ?? 0) - (before.upstreamTap?.tunnels ?? 0),
    mockReceived: mockAfter !== null && mockBefore !== null ? mockAfter - mockBefore : null,
  },
  /** Client-visible hop check: a client that sent Connection: close must be answered Connection: close. */
  hopCheck: shadowedSent
    .filter((s) => Object.entries(s.req.headers).some(([k, val]) => k.toLowerCase() === 'connection' && val === 'close'))
    .map((s) => ({ scenario: s.req.scenario, responseConnection: s.connection ?? null, ok: s.connection === 'close' })),
  differenceRecords: fresh.length,
  differences: groupsOut,
};
if (opt.out) writeFileSync(opt.out, JSON.stringify(report, null, 2));

console.log(`\n${report.sent.shadowed} shadowed requests (${report.sent.sequential} sequential, ${report.sent.concurrent} concurrent; ${resets} admin resets in between, not shadowed); transport errors: ${report.sent.transportErrors.length}`);
console.log('route                 compared identical differing errors dropped | side effects identical/differing/not measured');
for (const d of deltas) {
  console.log(`${d.routeId.padEnd(22)}${String(d.compared).padStart(8)}${String(d.identical).padStart(10)}${String(d.differing).padStart(10)}${String(d.errors).padStart(7)}${String(d.dropped).padStart(8)} | ${d.sideEffects.identical}/${d.sideEffects.differing}/${d.sideEffects.notMeasured}`);
  for (const [reason, n] of Object.entries(d.notMeasuredReasons)) console.log(`    not measured ${n}x: ${reason.slice(0, 140)}`);
}
for (const [k, n] of Object.entries(report.teeDrops)) console.log(`tee dropped ${n}x: ${k}`);
if (noOutcome.length) console.log(`no shadow outcome: ${noOutcome.join(', ')}`);
for (const h of report.hopCheck.filter((x) => !x.ok)) console.log(`hop check: ${h.scenario} sent Connection: close, answered Connection: ${h.responseConnection}`);
console.log(`upstream: tap forwarded ${report.upstream.tapForwarded} (${report.upstream.tapTunnels} CONNECT tunnels), mock received ${report.upstream.mockReceived ?? '?'}`);
for (const g of groupsOut) {
  console.log(`\n[${g.count}x] ${g.scenario} (${g.route})${g.expected ? ` — expected: ${g.expected}` : ''}`);
  for (const l of g.labels.slice(0, 12)) console.log(`    ${l}`);
  console.log(`    e.g. ${g.example.id}: ${g.example.firstDivergence ?? ''}`.slice(0, 400));
}

agent.destroy();

/** gateway_shadow_dropped_total per `route/reason` for the drill's routes, from the admin port's Prometheus text. */
async function teeDrops(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(`${opt.admin}/gateway/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith('gateway_shadow_dropped_total{')) continue;
      const route = /route="([^"]*)"/.exec(line)?.[1] ?? '';
      const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? '';
      if (ROUTES.includes(route)) out[`${route}/${reason}`] = Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  } catch {
    /* no metrics: reported as none */
  }
  return out;
}

function diffCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(b)) if (n - (a[k] ?? 0) > 0) out[k] = n - (a[k] ?? 0);
  return out;
}

async function mockStats(): Promise<number | null> {
  const url = process.env.DRILL_MOCK_URL ?? 'http://127.0.0.1:19182';
  try {
    const j = (await (await fetch(`${url}/__mock/stats`)).json()) as { total?: number };
    return j.total ?? null;
  } catch {
    return null;
  }
}
