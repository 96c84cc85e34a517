import type { ClientAbort } from './http-capture.js';
import { concretize, holdsOf, isFresh, type ConcreteRequest, type Scenario, type Step } from './scenarios.js';

/**
 * Runs a scenario list step by step. Variables are filled when a step runs, from the vars file
 * (re-read after every reset), the environment, and what earlier steps captured since the last
 * reset; a variable still missing is an error naming the step.
 */
export interface StepIo {
  loadVars(): Record<string, string>;
  /** Brings the backend back to a fresh state (null: the list must have no reset points). */
  reset: (() => Promise<void>) | null;
  /** Records one exchange; returns the response body (for captures) and its status. */
  record(
    req: ConcreteRequest,
    background: Array<{ leadMs: number; request: ConcreteRequest }>,
    abort: ClientAbort | undefined,
  ): Promise<{ status: number; body: Buffer }>;
  /** Sends a `record: false` step without writing anything. */
  send(req: ConcreteRequest): Promise<{ status: number; body: Buffer }>;
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Dot path (`data.id`, `items.0.key`) into a parsed JSON value; numbers and booleans become strings. */
export function pickPath(value: unknown, path: string): string | undefined {
  let cur = value;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? String(cur) : undefined;
}

export function captureValues(step: Scenario, res: { status: number; body: Buffer }): Record<string, string> {
  const names = Object.entries(step.capture);
  if (!names.length) return {};
  let json: unknown;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new Error(`step ${step.name}: capture needs a JSON answer, got status ${res.status}: ${res.body.toString('utf8').slice(0, 200)}`);
  }
  return Object.fromEntries(
    names.map(([name, path]) => {
      const val = pickPath(json, path);
      if (val === undefined)
        throw new Error(`step ${step.name}: capture ${name} (${path}) not in the answer (status ${res.status}): ${res.body.toString('utf8').slice(0, 200)}`);
      return [name, val];
    }),
  );
}

function concreteStep(s: Scenario, vars: Record<string, string>, env: NodeJS.ProcessEnv) {
  try {
    return {
      req: concretize(s, vars, env),
      background: holdsOf(s).map((h) => ({ leadMs: h.startMs, request: concretize({ ...h, name: h.name }, vars, env) })),
    };
  } catch (e) {
    throw new Error(`step ${s.name}: ${(e as Error).message}`);
  }
}

function abortOf(s: Scenario): ClientAbort | undefined {
  if (s.abortAfterMs === undefined && s.abortAtMs === undefined) return undefined;
  return { ...(s.abortAfterMs !== undefined ? { afterResponseMs: s.abortAfterMs } : {}), ...(s.abortAtMs !== undefined ? { afterSendMs: s.abortAtMs } : {}) };
}

export async function runSteps(steps: Step[], io: StepIo): Promise<{ recorded: number; sent: number; resets: number }> {
  const fresh = steps.filter(isFresh);
  if (fresh.length && !io.reset)
    throw new Error(`the list has ${fresh.length} fresh reset point(s) (${fresh[0]!.name}...): give --reset <command> to run at each`);
  const env = io.env ?? process.env;
  // a list that starts with a reset point reads its vars after that reset
  let vars: Record<string, string> = steps[0] && isFresh(steps[0]) ? {} : io.loadVars();
  const counts = { recorded: 0, sent: 0, resets: 0 };
  for (const s of steps) {
    if (isFresh(s)) {
      await io.reset!();
      vars = io.loadVars(); // captures of the previous group are dropped with the state they named
      counts.resets++;
      continue;
    }
    if (s.waitBeforeMs) await sleep(s.waitBeforeMs);
    const { req, background } = concreteStep(s, vars, env);
    const res = s.record ? await io.record(req, background, abortOf(s)) : await io.send(req);
    counts[s.record ? 'recorded' : 'sent']++;
    vars = { ...vars, ...captureValues(s, res) };
  }
  return counts;
}
