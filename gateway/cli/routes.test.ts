import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runRoutesCli } from './routes.js';
import { formatTable } from './table-format.js';

let dir: string;
let file: string;
const initial = {
  version: 'v7',
  defaultMode: 'legacy',
  routes: [
    { id: 'a', methods: ['GET'], paths: ['/a'], mode: 'legacy', module: 'mod-a' },
    { id: 'b', paths: ['/b/*'], mode: 'legacy' },
  ],
};

async function cli(...argv: string[]) {
  return cliWith([], ...argv);
}
async function cliWith(modules: string[], ...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runRoutesCli([...argv, '--file', file], { env: {}, out: (l) => out.push(l), err: (l) => err.push(l), knownModules: () => modules });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  file = join(dir, 'routing-table.json');
  writeFileSync(file, formatTable(initial));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('routes CLI', () => {
  it('list shows every route with its mode', async () => {
    const r = await cli('list');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/version v7/);
    expect(r.out).toMatch(/^a\s+legacy\s+mod-a\s+GET\s+\/a$/m);
    expect(r.out).toMatch(/^b\s+legacy\s+-\s+\*\s+\/b\/\*$/m);
  });

  it('set rejects an invalid change and leaves the file untouched', async () => {
    const before = readFileSync(file, 'utf8');
    const r = await cli('set', 'a', 'migrated');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/route "a" field module: unknown migrated module "mod-a"/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect((await cli('set', 'zzz', 'legacy')).err).toMatch(/no route "zzz"/);
    expect((await cli('set', 'b', 'canary')).code).toBe(2);
    expect((await cli('set', 'b', 'canary', '--percent', '150')).err).toMatch(/route "b" field canary.percent: must be 0..100/);
  });

  it('set + set round-trips: the flip is written atomically with a diff, the rollback restores the routes', async () => {
    const before = JSON.parse(readFileSync(file, 'utf8')) as typeof initial;
    // Legacy mode with options is valid without a known module: stage canary options, then roll back.
    const flip = await cli('set', 'b', 'legacy', '--percent', '25');
    expect(flip.code).toBe(0);
    expect(flip.out).toMatch(/^- \{"id":"b","paths":\["\/b\/\*"\],"mode":"legacy"\}$/m);
    expect(flip.out).toMatch(/^\+ \{"id":"b","paths":\["\/b\/\*"\],"mode":"legacy","canary":\{"percent":25\}\}$/m);
    const after = JSON.parse(readFileSync(file, 'utf8')) as typeof initial & { routes: Array<Record<string, unknown>> };
    expect(after.version).toBe('v8');
    expect(after.routes[1]).toEqual({ id: 'b', paths: ['/b/*'], mode: 'legacy', canary: { percent: 25 } });
    expect(after.routes[0]).toEqual(before.routes[0]);
    // One route per line: the flip changed exactly one route line.
    const diffLines = readFileSync(file, 'utf8').split('\n').filter((l, i) => l !== formatTable(before).split('\n')[i]);
    expect(diffLines).toHaveLength(2); // version line + route b line
    expect((await cli('validate')).code).toBe(0);
    expect(readFileSync(dir + '/routing-table.json', 'utf8')).not.toMatch(/tmp/);
  });

  it('flips a route to migrated, canary and shadow and rolls it back to the original route', async () => {
    const original = JSON.parse(readFileSync(file, 'utf8')) as typeof initial;
    const set = (...a: string[]) => cliWith(['mod-a'], 'set', ...a);
    expect((await set('a', 'migrated')).out).toMatch(/route a: legacy -> migrated/);
    expect((await set('a', 'canary', '--percent', '5')).out).toMatch(/route a: migrated -> canary 5%/);
    expect((await set('a', 'shadow', '--primary', 'migrated', '--sample-rate', '0.5')).out).toMatch(/shadow primary=migrated sample=0.5/);
    const live = JSON.parse(readFileSync(file, 'utf8')) as { routes: Array<Record<string, unknown>> };
    expect(live.routes[0]).toMatchObject({ mode: 'shadow', canary: { percent: 5 }, shadow: { primary: 'migrated', sampleRate: 0.5 } });
    expect((await set('a', 'legacy')).code).toBe(0);
    const back = JSON.parse(readFileSync(file, 'utf8')) as { version: string; routes: Array<Record<string, unknown>> };
    expect(back.version).toBe('v11');
    expect(back.routes[0]!.mode).toBe('legacy');
    expect(back.routes[1]).toEqual(original.routes[1]);
    expect((await cliWith(['mod-a'], 'list')).out).toMatch(/^a\s+legacy\s+mod-a/m);
  });

  it('validate reports errors with route and field', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ routes: [{ id: 'x', paths: ['/x'], mode: 'shadow' }] }));
    const r = await cli('validate', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/route "x" field module: required in mode "shadow"/);
  });

  it('prints usage for an unknown command', async () => {
    const r = await cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command "frobnicate"/);
    expect(r.err).toMatch(/set <routeId>/);
  });
});
