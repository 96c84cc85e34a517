import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test-support/free-port.js';
import { projectRoot } from '../../../test-support/paths.js';
import { runRoutesCli } from '../../cli/routes.js';
import { compileTable } from '../../routing/match.js';
import { parsePattern } from '../../routing/pattern.js';
import type { RoutingTable } from '../../routing/schema.js';
import { validateTable } from '../../routing/validate.js';
import { send } from './send.js';
import { startLabelServer, type LabelServer } from './label-server.js';
import { startNginx, testConfig, type RunningNginx } from './process.js';
import { LEGACY_413_BODY, renderSidecar, renderSplit } from './render.js';

/** A table with the cases nginx cannot decide by path alone. */
const TRICKY = {
  routes: [
    { id: 'msgs', methods: ['POST'], paths: ['/api/v1/messages', '/claude/v1/messages'], mode: 'migrated', module: 'm' },
    { id: 'models', methods: ['GET'], paths: ['/api/v1/models'], mode: 'legacy' },
    { id: 'key-info', methods: ['GET'], paths: ['/api/v1/key-info'], mode: 'canary', module: 'm', canary: { percent: 10 } },
    { id: 'admin', paths: ['/admin/*'], mode: 'shadow', module: 'm' },
    { id: 'acct', methods: ['GET'], paths: ['/admin/claude-accounts/:id'], mode: 'legacy' },
    { id: 'acct-reset', methods: ['POST'], paths: ['/admin/claude-accounts/:id/reset-status'], mode: 'legacy' },
    { id: 'gem', methods: ['POST'], paths: ['/gemini/v1beta/models/:modelName:generateContent'], mode: 'migrated', module: 'm' },
    { id: 'gem-model', methods: ['GET'], paths: ['/gemini/v1beta/models/:modelName'], mode: 'legacy' },
    { id: 'web', paths: ['/web/*'], mode: 'legacy' },
    { id: 'oa-models', methods: ['GET', 'POST'], paths: ['/openai/:family/v1/models'], mode: 'legacy' },
    { id: 'oa-chat', methods: ['POST'], paths: ['/openai/claude/v1/chat/completions'], mode: 'migrated', module: 'm' },
    { id: 'stats', methods: ['GET'], paths: ['/apiStats/api/:what'], mode: 'legacy' },
    { id: 'unknown', paths: ['/*'], mode: 'legacy' },
  ],
};

function validated(raw: unknown, modules: string[]): RoutingTable {
  const r = validateTable(raw, { knownModules: modules });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.table;
}

/** Concrete request paths for one pattern: params filled, wildcard empty and deep, case/slash/query variants. */
function samplePaths(pattern: string): string[] {
  const { segments, prefix } = parsePattern(pattern);
  const fill = (deep: string) =>
    '/' +
    segments
      .filter((s) => s.kind !== 'wildcard')
      .map((s) => (s.kind === 'exact' ? s.value : s.kind === 'param' ? `p1${s.suffix}` : ''))
      .join('/') +
    deep;
  const bases = prefix ? [fill(''), fill('/deep/er')] : [fill('')];
  const out = new Set<string>();
  for (const b0 of bases) {
    const b = b0.replace(/^\/\//, '/');
    out.add(b);
    out.add(b.toUpperCase());
    out.add(`${b}/`.replace(/\/\/$/, '/'));
    out.add(`${b}?q=/x`);
    out.add(`${b}/extra`.replace(/^\/\//, '/'));
  }
  return [...out];
}

describe('generated nginx configs', () => {
  it('nginx -t accepts the sidecar config and the split config of the routing table', async () => {
    const sidecar = await testConfig(renderSidecar({ gateways: ['127.0.0.1:8080', '127.0.0.1:8082'] }));
    expect(sidecar.output).toContain('test is successful');
    expect(sidecar.ok).toBe(true);

    const file = join(projectRoot, 'routing-table.json');
    const tables: RoutingTable[] = [validated(TRICKY, ['m'])];
    if (existsSync(file)) {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as { routes?: Array<{ module?: string }> };
      const modules = [...new Set((raw.routes ?? []).map((r) => r.module).filter((m): m is string => !!m))];
      tables.push(validated(raw, modules));
    }
    for (const table of tables) {
      const split = await testConfig(renderSplit(table).text);
      expect(split.output).toContain('test is successful');
      expect(split.ok).toBe(true);
    }
  });

  it('nginx/sidecar.conf in the repository is the generated sidecar config with default ports, and nginx -t accepts it', async () => {
    const committed = readFileSync(join(projectRoot, 'nginx', 'sidecar.conf'), 'utf8');
    expect(committed, 'regenerate: npm run routes -- nginx --mode sidecar --out nginx/sidecar.conf').toBe(renderSidecar());
    const r = await testConfig(committed);
    expect(r.ok, r.output).toBe(true);
  });

  it('routes CLI: nginx --out writes the split config, --check tells when the table moved on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-nginx-cli-'));
    try {
      const tablePath = join(dir, 'routing-table.json');
      const conf = join(dir, 'crs.conf');
      writeFileSync(tablePath, JSON.stringify({ routes: [{ id: 'web', paths: ['/web/*'], mode: 'legacy' }] }));
      const lines: string[] = [];
      const run = (...args: string[]) => runRoutesCli(args, { env: {}, tablePath, out: (l) => lines.push(l), err: (l) => lines.push(l) });
      expect(await run('nginx', '--out', conf, '--test', '--gateway', '127.0.0.1:8080,127.0.0.1:8082')).toBe(0);
      expect(readFileSync(conf, 'utf8')).toContain('server 127.0.0.1:8082 max_fails=1 fail_timeout=3s;');
      expect(await run('nginx', '--check', conf, '--gateway', '127.0.0.1:8080,127.0.0.1:8082')).toBe(0);
      writeFileSync(tablePath, JSON.stringify({ routes: [{ id: 'web', paths: ['/web/*'], mode: 'legacy' }, { id: 'x', paths: ['/x'], mode: 'legacy' }] }));
      lines.length = 0;
      expect(await run('nginx', '--check', conf, '--gateway', '127.0.0.1:8080,127.0.0.1:8082')).toBe(1);
      expect(lines.join('\n')).toMatch(/DISAGREES with .*routing-table.json: regenerate/);
      expect(await run('nginx', '--mode', 'sideways')).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nginx -t rejects a broken config (the check can fail)', async () => {
    const r = await testConfig(renderSidecar().replace('proxy_buffering off;', 'proxy_buffering sideways;'));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/proxy_buffering/);
  });

  it('takes TLS listen flags and server includes (checked by nginx -t)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-nginx-inc-'));
    try {
      const inc = join(dir, 'extra.conf');
      writeFileSync(inc, 'add_header X-Frame-Options "DENY" always;\n');
      const text = renderSidecar({ listen: ['8443 reuseport'], serverIncludes: [inc] });
      expect(text).toContain(`    include ${inc};`);
      expect(text).toContain('    listen 8443 reuseport;');
      const r = await testConfig(text);
      expect(r.ok, r.output).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad deployment options with the option named', () => {
    expect(() => renderSidecar({ gateways: ['localhost'] })).toThrow(/gateways.*host:port/);
  });
});

/** The project's routing-table.json with every route that names a module flipped to migrated (when present). */
function projectTableFlipped(): RoutingTable | null {
  const file = join(projectRoot, 'routing-table.json');
  if (!existsSync(file)) return null;
  const raw = JSON.parse(readFileSync(file, 'utf8')) as { routes: Array<Record<string, unknown>> };
  const modules = [...new Set(raw.routes.map((r) => r.module).filter((m): m is string => typeof m === 'string'))];
  const flipped = { ...raw, routes: raw.routes.map((r) => (typeof r.module === 'string' && r.id !== 'unknown' ? { ...r, mode: 'migrated' } : r)) };
  return validated(flipped, modules);
}

const splitCases: Array<[string, () => RoutingTable | null]> = [
  ['a table with method-restricted routes inside wildcards', () => validated(TRICKY, ['m'])],
  ['the project routing table with its module routes migrated', projectTableFlipped],
];

/** Real nginx with the split config of `table` in front of two label servers, for the enclosing describe. */
function splitUnderNginx(table: RoutingTable) {
  const h = { port: 0, agent: new Agent({ keepAlive: true, maxSockets: 16 }) };
  let legacy: LabelServer | undefined;
  let gateway: LabelServer | undefined;
  let nginx: RunningNginx | undefined;
  beforeAll(async () => {
    legacy = await startLabelServer('legacy');
    gateway = await startLabelServer('gateway');
    h.port = await freePort();
    const { text } = renderSplit(table, {
      listen: [`127.0.0.1:${h.port}`],
      gateways: [`127.0.0.1:${gateway.port}`],
      legacy: [`127.0.0.1:${legacy.port}`],
      legacyBackup: false,
      statusListen: null,
    });
    nginx = await startNginx(text, h.port);
  });
  afterAll(async () => {
    h.agent.destroy();
    await nginx?.stop();
    await legacy?.close();
    await gateway?.close();
  });
  return h;
}

describe.each(splitCases)('split config under real nginx: %s', (_name, makeTable) => {
  const table = makeTable() ?? validated(TRICKY, ['m']);
  const h = splitUnderNginx(table);

  it('sends a request straight to the legacy only when the gateway would send it there for that method', async () => {
    const compiled = compileTable(table);
    const seen = { legacy: 0, gateway: 0 };
    const wrong: string[] = [];
    for (const route of table.routes) {
      for (const pattern of route.paths) {
        for (const path of samplePaths(pattern)) {
          for (const method of ['GET', 'POST', 'DELETE']) {
            const r = await send(h.port, method, path, { agent: h.agent, body: method === 'POST' ? '{}' : undefined });
            expect(r.status, `${method} ${path}`).toBe(200);
            const side = (JSON.parse(r.body) as { side: 'legacy' | 'gateway'; url: string }).side;
            seen[side]++;
            expect(JSON.parse(r.body).url, 'the raw URI reaches the upstream unchanged').toBe(path);
            const hit = compiled.match(method, path);
            const gatewayWouldSay = hit ? hit.route.mode : 'legacy';
            if (side === 'legacy' && gatewayWouldSay !== 'legacy') wrong.push(`${method} ${path} -> legacy, gateway says ${hit?.route.id} (${gatewayWouldSay})`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(seen.legacy).toBeGreaterThan(50);
    expect(seen.gateway).toBeGreaterThan(50);
  });
});

describe('split config under real nginx: known cases', () => {
  const h = splitUnderNginx(validated(TRICKY, ['m']));

  it('routes the known cases as planned', async () => {
    const side = async (method: string, path: string) =>
      (JSON.parse((await send(h.port, method, path, { agent: h.agent })).body) as { side: string }).side;
    expect(await side('POST', '/api/v1/messages')).toBe('gateway');
    expect(await side('POST', '/API/V1/Messages/?beta=true')).toBe('gateway');
    expect(await side('GET', '/api/v1/models')).toBe('legacy');
    expect(await side('GET', '/web/index.html')).toBe('legacy');
    // GET-only legacy route inside a shadowed prefix: other methods belong to the shadow route.
    expect(await side('GET', '/admin/claude-accounts/1')).toBe('gateway');
    expect(await side('GET', '/gemini/v1beta/models/gemini-pro')).toBe('gateway');
    expect(await side('GET', '/apiStats/api/user-stats')).toBe('legacy');
    expect(await side('GET', '/nothing/here')).toBe('legacy');
  });
});

describe('sidecar config under real nginx', () => {
  let legacy: LabelServer;
  let gateway: LabelServer;
  let nginx: RunningNginx;
  let port: number;

  beforeAll(async () => {
    legacy = await startLabelServer('legacy');
    gateway = await startLabelServer('gateway');
    port = await freePort();
    nginx = await startNginx(
      renderSidecar({
        listen: [`127.0.0.1:${port}`],
        gateways: [`127.0.0.1:${gateway.port}`],
        legacy: [`127.0.0.1:${legacy.port}`],
        statusListen: null,
        clientMaxBodySize: '1m',
      }),
      port,
    );
  });
  afterAll(async () => {
    await nginx?.stop();
    await legacy?.close();
    await gateway?.close();
  });

  it('passes client address headers and underscore headers to the gateway', async () => {
    const r = await send(port, 'POST', '/api/v1/messages?x=1', {
      headers: { session_id: 'sess-1', 'X-Forwarded-For': '203.0.113.9', 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    const body = JSON.parse(r.body) as Record<string, unknown>;
    expect(body).toMatchObject({ side: 'gateway', url: '/api/v1/messages?x=1', bytes: 7, realIp: '127.0.0.1', sessionId: 'sess-1' });
    expect(body.forwardedFor).toBe('203.0.113.9, 127.0.0.1');
    expect(body.forwardedProto).toBe('http');
  });

  it('streams SSE unbuffered: the first event arrives long before the stream ends', async () => {
    const r = await send(port, 'GET', '/sse?sse=5&gapMs=150');
    expect(r.body.match(/event: tick/g)?.length).toBe(5);
    expect(r.body).toContain('event: done');
    expect(r.firstChunkMs).toBeLessThan(400);
    expect(r.totalMs).toBeGreaterThan(700);
  });

  it("answers a body over the limit with the legacy's JSON 413", async () => {
    const r = await send(port, 'POST', '/api/v1/messages', {
      headers: { 'content-type': 'application/json', 'content-length': 2 * 1024 * 1024 },
      body: Buffer.alloc(2 * 1024 * 1024, 0x20),
    }).catch((e: Error) => e);
    // nginx may answer before reading the body; then the client sees the reply or a reset.
    if (r instanceof Error) throw r;
    expect(r.status).toBe(413);
    expect(r.body).toBe(LEGACY_413_BODY);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
  });

  it('falls back to the legacy when no gateway answers', async () => {
    await gateway.close();
    const r = await send(port, 'GET', '/api/v1/models');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).side).toBe('legacy');
  });
});
