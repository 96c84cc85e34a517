import { existsSync, readFileSync } from 'node:fs';
import * as v from 'valibot';

/**
 * Noise as data (`noise.json` per suite, on top of `compat-tests/noise.default.json`):
 *  - `variables`: value shapes that may differ between runs. `bind` ids (UUIDs, hashes) must map
 *    one-to-one wherever they appear (a new key's UUID is the SAME variable in the body, the key
 *    name and the index set); `time` values must lie within the exchange's time window.
 *  - `rules`: locations (glob over the diff's location paths, `*` = any text) whose value is not
 *    compared at all, each with a reason. Every value skipped or matched as a variable is counted.
 */
export const VariableSchema = v.strictObject({
  id: v.string(),
  pattern: v.string(),
  kind: v.picklist(['bind', 'time']),
  parse: v.optional(v.picklist(['iso', 'epoch-ms', 'epoch-s', 'http-date'])),
  reason: v.string(),
});
export type VariableClass = v.InferOutput<typeof VariableSchema>;

export const RuleSchema = v.strictObject({
  id: v.string(),
  /** Glob over location paths: `response.header.x-request-id`, `redis.system:metrics:minute:*`, `response.body#event[*]$.message.id`. */
  match: v.string(),
  reason: v.string(),
  /** Where it came from: written by hand, or proposed by learn-noise from primary vs secondary. */
  source: v.optional(v.picklist(['manual', 'learned']), 'manual'),
  /**
   * Instead of skipping the value, check it against the observed body: `etag-of-body` (Express
   * weak ETag: W/"<length hex>-<sha1 base64 27>") or `length-of-body` (Content-Length).
   */
  check: v.optional(v.picklist(['etag-of-body', 'length-of-body'])),
  /** Only for these exchanges (names); absent = every exchange of the suite. */
  exchanges: v.optional(v.array(v.string())),
  /** Only for exchanges of these routing-table routes (ids); absent = every route. */
  routes: v.optional(v.array(v.string())),
  /**
   * Only when the value on each side that has one matches this glob (a JSON string is matched by
   * its text, without quotes): `chatcmpl-*` skips an id only while both ids still have that form.
   */
  value: v.optional(v.string()),
});
export type NoiseRule = v.InferOutput<typeof RuleSchema>;

export const NoiseFileSchema = v.strictObject({
  $comment: v.optional(v.string()),
  variables: v.optional(v.array(VariableSchema), []),
  rules: v.optional(v.array(RuleSchema), []),
});
export type NoiseFile = v.InferOutput<typeof NoiseFileSchema>;

export function readNoiseFile(file: string): NoiseFile {
  if (!existsSync(file)) return { variables: [], rules: [] };
  const r = v.safeParse(NoiseFileSchema, JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) {
    const i = r.issues[0]!;
    throw new Error(`${file}: ${i.path?.map((p) => String(p.key)).join('.') ?? '(root)'}: ${i.message}`);
  }
  return r.output;
}

export interface CompiledNoise {
  variables: VariableClass[];
  /** One regex with a named group per variable class (`v0`, `v1`, ... in priority order). */
  tokenizer: RegExp | null;
  rules: NoiseRule[];
  /**
   * The first rule for `path`. Rules with a `value` constraint only count when `values` are given
   * and every one of them (undefined = that side has no value) matches it.
   */
  ruleFor(path: string, values?: ReadonlyArray<string | undefined>): NoiseRule | undefined;
}

/** The text a `value` glob is matched against: a JSON string literal's content, else the text as is. */
function valueText(raw: string): string {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      const s: unknown = JSON.parse(raw);
      if (typeof s === 'string') return s;
    } catch {
      // not a JSON string literal: matched as it is
    }
  }
  return raw;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

/** The rules and variables that apply to one exchange of one route (undefined: not restricted). */
export function compileNoise(files: NoiseFile[], exchange?: string, route?: string | null): CompiledNoise {
  const variables = files.flatMap((f) => f.variables);
  const rules = files
    .flatMap((f) => f.rules)
    .filter((r) => !r.exchanges || exchange === undefined || r.exchanges.includes(exchange))
    .filter((r) => !r.routes || route === undefined || (route !== null && r.routes.includes(route)));
  const compiled = rules.map((r) => ({ r, re: globToRegExp(r.match), value: r.value !== undefined ? globToRegExp(r.value) : null }));
  const tokenizer = variables.length ? new RegExp(variables.map((x, i) => `(?<v${i}>${x.pattern})`).join('|'), 'g') : null;
  const cache = new Map<string, typeof compiled>();
  return {
    variables,
    tokenizer,
    rules,
    ruleFor(path, values) {
      let candidates = cache.get(path);
      if (!candidates) {
        candidates = compiled.filter((c) => c.re.test(path));
        cache.set(path, candidates);
      }
      const present = values?.filter((x): x is string => x !== undefined) ?? [];
      return candidates.find((c) => !c.value || (present.length > 0 && present.every((x) => c.value!.test(valueText(x)))))?.r;
    },
  };
}
