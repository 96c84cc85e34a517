import * as v from 'valibot';
import { compileTable, type CompiledTable } from './match.js';
import { parsePattern } from './pattern.js';
import { RoutingTableSchema, type RoutingTable } from './schema.js';

/**
 * Validation of a routing table beyond its shape: unique ids, module names, mode options,
 * and patterns that overlap with equal specificity. Every error names the route and the field.
 */

export interface ValidateOptions {
  /** Names of migrated modules that exist (migrated/registry.ts). */
  knownModules: readonly string[];
}

export type ValidationResult =
  | { ok: true; table: RoutingTable; compiled: CompiledTable; warnings: string[] }
  | { ok: false; errors: string[] };

function issuePath(issue: v.BaseIssue<unknown>, input: unknown): string {
  const keys = issue.path?.map((p) => p.key as string | number) ?? [];
  let where = '';
  // Prefix "route <id>" when the issue is inside routes[i].
  if (keys[0] === 'routes' && typeof keys[1] === 'number') {
    const routes = (input as { routes?: unknown[] }).routes;
    const r = routes?.[keys[1]] as { id?: unknown } | undefined;
    const id = typeof r?.id === 'string' ? r.id : `#${keys[1]}`;
    where = `route "${id}"`;
    const rest = keys.slice(2);
    return rest.length ? `${where} field ${rest.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${k}` : k)).join('')}` : where;
  }
  return keys.length ? `field ${keys.join('.')}` : 'table';
}

export function validateTable(input: unknown, opts: ValidateOptions): ValidationResult {
  const parsed = v.safeParse(RoutingTableSchema, input);
  if (!parsed.success) {
    return { ok: false, errors: parsed.issues.map((i) => `${issuePath(i, input)}: ${i.message}`) };
  }
  const table = parsed.output;
  const errors: string[] = [];
  const warnings: string[] = [];
  const known = new Set(opts.knownModules);
  const ids = new Set<string>();
  const seen = new Map<string, { id: string; methods: string[] }[]>();

  for (const route of table.routes) {
    const where = `route "${route.id}"`;
    if (ids.has(route.id)) errors.push(`${where} field id: duplicate id`);
    ids.add(route.id);

    if (route.mode !== 'legacy') {
      if (!route.module) errors.push(`${where} field module: required in mode "${route.mode}"`);
      else if (!known.has(route.module))
        errors.push(`${where} field module: unknown migrated module "${route.module}" (known: ${[...known].join(', ') || 'none'})`);
    } else if (route.module && !known.has(route.module)) {
      warnings.push(`${where} field module: "${route.module}" is not in the registry yet (fine while mode is legacy)`);
    }
    if (route.mode === 'canary' && !route.canary) errors.push(`${where} field canary: required in mode "canary" ({ "percent": 0..100 })`);

    const methods = route.methods.includes('*') ? ['*'] : route.methods;
    route.paths.forEach((p, i) => {
      const canonical = parsePattern(p).canonical;
      const others = seen.get(canonical) ?? [];
      for (const other of others) {
        const overlap = methods.includes('*') || other.methods.includes('*') || methods.some((m) => other.methods.includes(m));
        if (overlap) {
          errors.push(
            other.id === route.id
              ? `${where} field paths[${i}]: "${p}" is listed twice`
              : `${where} field paths[${i}]: "${p}" overlaps route "${other.id}" with equal specificity`,
          );
        }
      }
      others.push({ id: route.id, methods });
      seen.set(canonical, others);
    });
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, table, compiled: compileTable(table), warnings };
}

/** Parse JSON text and validate; JSON syntax errors are reported like other errors. */
export function validateTableText(text: string, opts: ValidateOptions): ValidationResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`table: invalid JSON: ${(err as Error).message}`] };
  }
  return validateTable(raw, opts);
}
