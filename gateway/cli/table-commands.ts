import { readFile, rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { knownModuleNames } from '../../migrated/registry.js';
import { MODES, type RouteMode } from '../routing/schema.js';
import { validateTable } from '../routing/validate.js';
import { parseArgs, registerRoutesCommand, type CliContext } from './command-map.js';
import { formatTable } from './table-format.js';

/** Built-in subcommands: list, set, validate. */

type RawRoute = Record<string, unknown> & { id?: string; mode?: string; paths?: string[]; methods?: string[]; module?: string };
type RawTable = Record<string, unknown> & { routes?: RawRoute[] };

async function readRaw(path: string): Promise<RawTable> {
  return JSON.parse(await readFile(path, 'utf8')) as RawTable;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const target = resolve(path);
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, target);
}

function describeMode(r: RawRoute): string {
  if (r.mode === 'canary') return `canary ${(r.canary as { percent?: number } | undefined)?.percent ?? '?'}%`;
  if (r.mode === 'shadow') {
    const s = (r.shadow ?? {}) as { primary?: string; sampleRate?: number };
    return `shadow primary=${s.primary ?? 'legacy'} sample=${s.sampleRate ?? 1}`;
  }
  return String(r.mode);
}

function bumpVersion(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '1';
  const m = /^(.*?)(\d+)$/.exec(v);
  return m ? `${m[1]}${Number(m[2]) + 1}` : `${v}.1`;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

registerRoutesCommand('list', {
  usage: 'list',
  summary: 'show every route, its mode and module',
  async run(_args, ctx) {
    const table = await readRaw(ctx.tablePath);
    ctx.out(`${ctx.tablePath}  version ${String(table.version ?? '(none)')}`);
    ctx.out(`${pad('ID', 22)} ${pad('MODE', 34)} ${pad('MODULE', 20)} METHODS  PATHS`);
    for (const r of table.routes ?? []) {
      ctx.out(
        `${pad(String(r.id), 22)} ${pad(describeMode(r), 34)} ${pad(r.module ?? '-', 20)} ${pad((r.methods ?? ['*']).join(','), 8)} ${(r.paths ?? []).join(' ')}`,
      );
    }
    return 0;
  },
});

registerRoutesCommand('validate', {
  usage: 'validate [file]',
  summary: 'check a table (default: the live file) without applying it',
  async run(args, ctx) {
    const path = args[0] ?? ctx.tablePath;
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(path, 'utf8'));
    } catch (err) {
      ctx.err(`${path}: ${(err as Error).message}`);
      return 1;
    }
    const result = validateTable(raw, { knownModules: (ctx.knownModules ?? knownModuleNames)() });
    if (!result.ok) {
      for (const e of result.errors) ctx.err(`${path}: ${e}`);
      return 1;
    }
    for (const w of result.warnings) ctx.out(`warning: ${w}`);
    ctx.out(`${path}: valid (${result.table.routes.length} routes, version ${result.compiled.version})`);
    return 0;
  },
});

registerRoutesCommand('set', {
  usage: 'set <routeId> <legacy|migrated|shadow|canary> [--percent N] [--primary legacy|migrated] [--sample-rate R] [--dry-run]',
  summary: 'flip or roll back one route (validates, writes atomically, prints the diff)',
  async run(args, ctx: CliContext) {
    const { positional, options } = parseArgs(args);
    const [id, mode] = positional;
    if (!id || !mode || !(MODES as readonly string[]).includes(mode)) {
      ctx.err(`usage: routes set <routeId> <${MODES.join('|')}> [--percent N] [--primary legacy|migrated] [--sample-rate R]`);
      return 2;
    }
    const table = await readRaw(ctx.tablePath);
    const routes = table.routes ?? [];
    const index = routes.findIndex((r) => r.id === id);
    if (index === -1) {
      ctx.err(`no route "${id}" in ${ctx.tablePath} (routes: ${routes.map((r) => r.id).join(', ')})`);
      return 1;
    }
    const before = routes[index]!;
    const after: RawRoute = { ...before, mode: mode as RouteMode };
    if (options.percent !== undefined) {
      const percent = Number(options.percent);
      if (!Number.isFinite(percent)) {
        ctx.err(`--percent must be a number, got "${options.percent}"`);
        return 2;
      }
      after.canary = { ...((before.canary as object | undefined) ?? {}), percent };
    } else if (mode === 'canary' && !before.canary) {
      ctx.err('canary mode needs --percent N (0..100)');
      return 2;
    }
    if (options.primary !== undefined || options['sample-rate'] !== undefined) {
      const shadow: Record<string, unknown> = { ...((before.shadow as object | undefined) ?? {}) };
      if (options.primary !== undefined) shadow.primary = options.primary;
      if (options['sample-rate'] !== undefined) shadow.sampleRate = Number(options['sample-rate']);
      after.shadow = shadow;
    }
    const next: RawTable = { ...table, version: bumpVersion(table.version), routes: routes.map((r, i) => (i === index ? after : r)) };
    const result = validateTable(next, { knownModules: (ctx.knownModules ?? knownModuleNames)() });
    if (!result.ok) {
      for (const e of result.errors) ctx.err(`rejected: ${e}`);
      ctx.err(`${ctx.tablePath} left unchanged`);
      return 1;
    }
    ctx.out(`--- ${ctx.tablePath} (version ${String(table.version ?? '(none)')})`);
    ctx.out(`+++ ${ctx.tablePath} (version ${String(next.version)})`);
    ctx.out(`- ${JSON.stringify(before)}`);
    ctx.out(`+ ${JSON.stringify(after)}`);
    ctx.out(`route ${id}: ${describeMode(before)} -> ${describeMode(after)}`);
    if (options['dry-run'] === 'true') {
      ctx.out('(dry run: not written)');
      return 0;
    }
    await writeAtomic(ctx.tablePath, formatTable(next));
    return 0;
  },
});
