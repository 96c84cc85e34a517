import { readFileSync } from 'node:fs';
import * as v from 'valibot';

/**
 * Scenario lists (like ../shared/lab/legacy-suite.json): name, method, path, headers, and a JSON
 * `body` or exact `bodyRaw`. `${VAR}` anywhere in path, header values or body strings is filled
 * from a vars file (JSON object or KEY=VALUE lines) and then the environment; a missing variable
 * is an error, never an empty string.
 */
export const ScenarioSchema = v.strictObject({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]+$/, 'name must be usable as a file name')),
  method: v.string(),
  path: v.pipe(v.string(), v.startsWith('/')),
  headers: v.optional(v.record(v.string(), v.string()), {}),
  body: v.optional(v.unknown()),
  bodyRaw: v.optional(v.string()),
  note: v.optional(v.string()),
});
export type Scenario = v.InferOutput<typeof ScenarioSchema>;

export function readScenarios(file: string): Scenario[] {
  const r = v.safeParse(v.array(ScenarioSchema), JSON.parse(readFileSync(file, 'utf8')));
  if (!r.success) {
    const i = r.issues[0]!;
    throw new Error(`${file}: ${i.path?.map((p) => String(p.key)).join('.') ?? '(root)'}: ${i.message}`);
  }
  return r.output;
}

export function readVars(file: string | undefined): Record<string, string> {
  if (!file) return {};
  const text = readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('{')) {
    const obj = JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(obj).map(([k, val]) => [k, String(val)]));
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (m) out[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

export function substitute(text: string, vars: Record<string, string>, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const val = vars[name] ?? env[name];
    if (val === undefined) throw new Error(`scenario variable \${${name}} is not set (vars file or environment)`);
    return val;
  });
}

function substituteDeep(value: unknown, vars: Record<string, string>, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return substitute(value, vars, env);
  if (Array.isArray(value)) return value.map((x) => substituteDeep(x, vars, env));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, substituteDeep(x, vars, env)]));
  return value;
}

export interface ConcreteRequest {
  name: string;
  note: string | null;
  method: string;
  path: string;
  /** Flat [name, value, ...] in send order. */
  rawHeaders: string[];
  body: Buffer;
}

/** Fill variables and produce the exact request: scenario headers in order, then content-length when there is a body. */
export function concretize(s: Scenario, vars: Record<string, string>, env: NodeJS.ProcessEnv = process.env): ConcreteRequest {
  const body =
    s.bodyRaw !== undefined
      ? Buffer.from(substitute(s.bodyRaw, vars, env), 'utf8')
      : s.body !== undefined
        ? Buffer.from(JSON.stringify(substituteDeep(s.body, vars, env)), 'utf8')
        : Buffer.alloc(0);
  const rawHeaders: string[] = [];
  for (const [k, val] of Object.entries(s.headers)) rawHeaders.push(k, substitute(val, vars, env));
  if (body.length && !rawHeaders.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length'))
    rawHeaders.push('content-length', String(body.length));
  return { name: s.name, note: s.note ?? null, method: s.method, path: substitute(s.path, vars, env), rawHeaders, body };
}
