import * as v from 'valibot';

/**
 * The routing table (`routing-table.json`): which side serves each route family.
 *
 * ```json
 * { "version": "2026-11-26.1", "defaultMode": "legacy",
 *   "routes": [ { "id": "models", "methods": ["GET"], "paths": ["/api/v1/models", "/claude/v1/models"],
 *                 "mode": "legacy", "module": "models" } ] }
 * ```
 *
 * Field by field (documented again in docs/gateway.md):
 * - `version`: free text shown by `/gateway/routes` (default: a hash of the file).
 * - `defaultMode`: where unmatched requests go; only `"legacy"` exists.
 * - `routes[].id`: unique name, used by the CLI, logs and metrics.
 * - `routes[].methods`: upper-case HTTP methods, or `["*"]` (default) for all. A `GET` route also answers `HEAD`
 *   (as Express does) unless another route lists `HEAD` explicitly.
 * - `routes[].paths`: Express-like patterns: exact (`/api/v1/models`), parameters (`/admin/claude-accounts/:id/reset-status`),
 *   parameters with a literal suffix (`/gemini/v1beta/models/:modelName:generateContent`), prefix wildcard as the
 *   last segment (`/admin/*` matches `/admin` and everything below it; `/*` matches everything).
 *   Matching is case-insensitive, ignores a trailing slash and the query string.
 * - `routes[].mode`: `legacy` | `migrated` | `shadow` | `canary`.
 * - `routes[].module`: the migrated module (name in migrated/registry.ts) that serves or would serve the route.
 *   Optional in `legacy` mode (an unknown name there is only a warning, so the table may name modules that are
 *   still being written); required and known in every other mode.
 * - `routes[].shadow`: `{ primary: "legacy"|"migrated" (default legacy), sampleRate: 0..1 (default 1),
 *   maxInFlight: n (default 16), maxBodyBytes: n (default 1 MiB) }` — used in `shadow` mode.
 * - `routes[].canary`: `{ percent: 0..100 }` — required in `canary` mode: share of API keys (or client IPs when a
 *   request carries no key) sent to the migrated module, sticky per key.
 */

export const MODES = ['legacy', 'migrated', 'shadow', 'canary'] as const;
export type RouteMode = (typeof MODES)[number];
export type Side = 'legacy' | 'migrated';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const SHADOW_DEFAULTS = { primary: 'legacy', sampleRate: 1, maxInFlight: 16, maxBodyBytes: 1024 * 1024 } as const;

export const ShadowOptionsSchema = v.strictObject({
  primary: v.optional(v.picklist(['legacy', 'migrated'], 'must be "legacy" or "migrated"'), SHADOW_DEFAULTS.primary),
  sampleRate: v.optional(
    v.pipe(v.number('must be a number'), v.minValue(0, 'must be 0..1'), v.maxValue(1, 'must be 0..1')),
    SHADOW_DEFAULTS.sampleRate,
  ),
  maxInFlight: v.optional(
    v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0, 'must be >= 0')),
    SHADOW_DEFAULTS.maxInFlight,
  ),
  maxBodyBytes: v.optional(
    v.pipe(v.number('must be a number'), v.integer('must be an integer'), v.minValue(0, 'must be >= 0')),
    SHADOW_DEFAULTS.maxBodyBytes,
  ),
});

export const CanaryOptionsSchema = v.strictObject({
  percent: v.pipe(v.number('must be a number'), v.minValue(0, 'must be 0..100'), v.maxValue(100, 'must be 0..100')),
});

const pathPattern = v.pipe(
  v.string('must be a string'),
  v.startsWith('/', 'must start with "/"'),
  v.check((p) => !p.includes('?'), 'must not contain a query string'),
  v.check((p) => {
    const segs = p.split('/').slice(1);
    return segs.every((s, i) => (s.includes('*') ? s === '*' && i === segs.length - 1 : true));
  }, 'a wildcard must be the whole last segment ("/prefix/*")'),
  v.check(
    (p) => p.split('/').every((s) => !s.startsWith(':') || /^:[A-Za-z_][A-Za-z0-9_]*(:[^/:]+)?$/.test(s)),
    'a parameter segment is ":name" or ":name:literalSuffix"',
  ),
);

export const RouteSchema = v.strictObject({
  id: v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-"')),
  description: v.optional(v.string()),
  methods: v.optional(
    v.pipe(
      v.array(v.picklist([...HTTP_METHODS, '*'], `must be one of ${HTTP_METHODS.join(', ')} or "*"`)),
      v.minLength(1, 'must list at least one method'),
    ),
    ['*'],
  ),
  paths: v.pipe(v.array(pathPattern), v.minLength(1, 'must list at least one path')),
  mode: v.picklist(MODES, `must be one of ${MODES.join(', ')}`),
  module: v.optional(v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'))),
  shadow: v.optional(ShadowOptionsSchema),
  canary: v.optional(CanaryOptionsSchema),
});

export const RoutingTableSchema = v.strictObject({
  $schema: v.optional(v.string()),
  version: v.optional(v.string('must be a string')),
  description: v.optional(v.string()),
  defaultMode: v.optional(v.literal('legacy', 'must be "legacy"'), 'legacy'),
  routes: v.array(RouteSchema, 'must be an array of routes'),
});

/** The table as written in the file (defaults not applied). */
export type RoutingTableInput = v.InferInput<typeof RoutingTableSchema>;
/** The table after validation (defaults applied). */
export type RoutingTable = v.InferOutput<typeof RoutingTableSchema>;
export type Route = v.InferOutput<typeof RouteSchema>;
export type ShadowOptions = v.InferOutput<typeof ShadowOptionsSchema>;
export type CanaryOptions = v.InferOutput<typeof CanaryOptionsSchema>;

/** Resolved shadow options of a route (defaults when the route has none). */
export function shadowOptionsOf(route: Route): ShadowOptions {
  return route.shadow ?? { ...SHADOW_DEFAULTS };
}
