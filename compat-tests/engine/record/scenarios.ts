import { readFileSync } from 'node:fs';
import * as v from 'valibot';

/**
 * Scenario lists (like ../shared/lab/legacy-suite.json): name, method, path, headers, and a JSON
 * `body` or exact `bodyRaw`. `${VAR}` anywhere in path, header values or body strings is filled
 * from a vars file (JSON object or KEY=VALUE lines) and then the environment; a missing variable
 * is an error, never an empty string.
 */
const RequestSpec = {
  method: v.string(),
  path: v.pipe(v.string(), v.startsWith('/')),
  headers: v.optional(v.record(v.string(), v.string()), {}),
  body: v.optional(v.unknown()),
  bodyRaw: v.optional(v.string()),
};
export const HoldSchema = v.looseObject({ ...RequestSpec, name: v.optional(v.string(), 'hold'), startMs: v.optional(v.number(), 300) });
export type Hold = v.InferOutput<typeof HoldSchema>;

/** Unknown keys (other recorders' extensions) are accepted and ignored. */
export const ScenarioSchema = v.looseObject({
  name: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]+$/, 'name must be usable as a file name')),
  ...RequestSpec,
  note: v.optional(v.string()),
  /** Request(s) started first and kept in flight while this one runs; each followed by `startMs` of waiting. */
  holdWith: v.optional(v.union([HoldSchema, v.array(HoldSchema)])),
  /** The client closes the socket N ms after the response head (mid-stream disconnect). */
  abortAfterMs: v.optional(v.number()),
  /** The client closes the socket N ms after sending, answer or not. */
  abortAtMs: v.optional(v.number()),
  /** Variable name → dot path into the JSON response body (`data.id`, `items.0.key`), visible to later steps. */
  capture: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/)), v.string()), {}),
  /** `false`: the request is sent (it sets up state) but not written as an exchange. */
  record: v.optional(v.boolean(), true),
  /** Wait this long before the step runs (e.g. for a window to expire). */
  waitBeforeMs: v.optional(v.number()),
});
export type Scenario = v.InferOutput<typeof ScenarioSchema>;

/** `{ "fresh": true }`: reset point — the backend is brought back to a fresh state before the next step. */
export const FreshSchema = v.looseObject({ fresh: v.literal(true), name: v.optional(v.string(), 'fresh') });
export type Step = Scenario | v.InferOutput<typeof FreshSchema>;
export const isFresh = (s: Step): s is v.InferOutput<typeof FreshSchema> => 'fresh' in s && s.fresh === true;

/** All steps of a list in order: request scenarios and `{ "fresh": true }` reset points. */
export function readSteps(file: string): Step[] {
  const all = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (!Array.isArray(all)) throw new Error(`${file}: a scenario list is a JSON array`);
  return all.map((x: unknown, n) => {
    const r = v.safeParse(x && typeof x === 'object' && 'fresh' in x ? FreshSchema : ScenarioSchema, x);
    if (r.success) return r.output;
    const i = r.issues[0]!;
    throw new Error(`${file}: [${n}].${i.path?.map((p) => String(p.key)).join('.') ?? ''}: ${i.message}`);
  });
}

/**
 * Request scenarios of a list (reset points dropped); `record: false` steps are kept (they may set
 * up state) but callers can tell them apart.
 */
export function readScenarios(file: string): Scenario[] {
  return readSteps(file).filter((s): s is Scenario => !isFresh(s));
}

/** The steps of the n-th (1-based) fresh group: from its reset point up to the next one. */
export function freshGroup(steps: Step[], n: number): Step[] {
  const starts = steps.flatMap((s, i) => (isFresh(s) ? [i] : []));
  const start = starts[n - 1];
  if (start === undefined) throw new Error(`the list has ${starts.length} fresh group(s), not ${n}`);
  return steps.slice(start, starts[n] ?? steps.length);
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
export function holdsOf(s: Scenario): Hold[] {
  return s.holdWith === undefined ? [] : Array.isArray(s.holdWith) ? s.holdWith : [s.holdWith];
}

/**
 * Recover `${VAR}` values from a recorded request: each templated header value (and the path) of the
 * scenario is matched against what was actually sent.
 */
export function varsFromRecorded(s: RequestTemplate, recorded: { path: string; rawHeaders: readonly string[] }): Record<string, string> {
  const out: Record<string, string> = {};
  const learn = (template: string, actual: string | undefined) => {
    if (actual === undefined || !template.includes('${')) return;
    const names: string[] = [];
    const re = new RegExp(
      '^' + template.split(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/).map((part, i) => (i % 2 ? (names.push(part), '(.*?)') : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + '$',
    );
    const m = re.exec(actual);
    if (m) names.forEach((n, i) => (out[n] ??= m[i + 1]!));
  };
  learn(s.path, recorded.path);
  for (const [k, val] of Object.entries(s.headers)) {
    const i = recorded.rawHeaders.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === k.toLowerCase());
    learn(val, i >= 0 ? recorded.rawHeaders[i + 1] : undefined);
  }
  return out;
}

export interface RequestTemplate {
  name: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  bodyRaw?: string | undefined;
  note?: string | undefined;
}

export function concretize(s: RequestTemplate, vars: Record<string, string>, env: NodeJS.ProcessEnv = process.env): ConcreteRequest {
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
