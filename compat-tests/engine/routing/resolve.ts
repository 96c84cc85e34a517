import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../test-support/paths.js';
import { validateTable } from '../../../gateway/routing/validate.js';

/**
 * Which migrated module (if any) would serve an exchange: the gateway's own pure matcher
 * (validated + compiled routing-table.json, `match(method, path)`), then the module registry.
 */
export interface RouteResolution {
  /** Route id from the table, or null when no route matched / no table. */
  routeId: string | null;
  /** Module named by the route, when any. */
  module: string | null;
  /** The module exists in migrated/registry.ts. */
  migrated: boolean;
  params: Record<string, string>;
  /** Why it is not replayable (no table, no matcher, no module...). */
  reason?: string;
}

export interface RouteResolver {
  resolve(method: string, path: string): RouteResolution;
  readonly table: unknown;
  readonly available: boolean;
  readonly note: string;
  /** Set when the table exists but cannot be used (invalid): a run must fail, not pass as "not migrated". */
  readonly error?: string;
}

type Matcher = { match(method: string, path: string): unknown };

function pickString(o: unknown, ...keys: string[]): string | null {
  if (!o || typeof o !== 'object') return null;
  for (const k of keys) {
    const val = (o as Record<string, unknown>)[k];
    if (typeof val === 'string') return val;
  }
  return null;
}

/** Interpret whatever the matcher returns: { route: { id, module }, params } or a flat route. */
function readMatch(m: unknown): { routeId: string | null; module: string | null; params: Record<string, string> } {
  if (!m || typeof m !== 'object') return { routeId: null, module: null, params: {} };
  const o = m as Record<string, unknown>;
  const route = (o['route'] && typeof o['route'] === 'object' ? o['route'] : o) as Record<string, unknown>;
  const params = (o['params'] && typeof o['params'] === 'object' ? o['params'] : {}) as Record<string, string>;
  return { routeId: pickString(route, 'id', 'name'), module: pickString(route, 'module'), params };
}

export async function loadRouteResolver(opts: {
  tableFile?: string;
  moduleNames: readonly string[];
}): Promise<RouteResolver> {
  const tableFile = opts.tableFile ?? join(projectRoot, 'routing-table.json');
  const none = (note: string): RouteResolver => ({
    available: false,
    note,
    table: null,
    resolve: () => ({ routeId: null, module: null, migrated: false, params: {}, reason: note }),
  });
  if (!existsSync(tableFile)) return none(`no routing table at ${tableFile}`);
  const table: unknown = JSON.parse(readFileSync(tableFile, 'utf8'));
  const checked = validateTable(table, { knownModules: opts.moduleNames });
  if (!checked.ok) {
    const error = `routing table ${tableFile} is invalid: ${checked.errors.join('; ')}`;
    return { ...none(error), error };
  }
  const matcher: Matcher = checked.compiled;
  const known = new Set(opts.moduleNames);
  return {
    available: true,
    note: `routes from ${tableFile} (version ${checked.compiled.version}); migrated modules: ${[...known].join(', ') || 'none'}`,
    table,
    resolve(method, path) {
      const r = readMatch(matcher.match(method, path));
      if (!r.routeId && !r.module) return { ...r, migrated: false, reason: 'no route matches' };
      if (!r.module) return { ...r, migrated: false, reason: 'route names no module' };
      if (!known.has(r.module)) return { ...r, migrated: false, reason: `module "${r.module}" not in migrated/registry.ts` };
      return { ...r, migrated: true };
    },
  };
}
