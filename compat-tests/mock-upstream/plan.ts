/**
 * A mock answer as data: status, headers (object, written in key order like the lab mock),
 * then writes and pauses. The server executes it; tests can inspect it without a socket.
 */
export type Step = { write: Buffer } | { sleep: number };

export interface Plan {
  status: number;
  headers: Record<string, string | number>;
  steps: Step[];
}

export const write = (s: string | Buffer): Step => ({ write: typeof s === 'string' ? Buffer.from(s, 'utf8') : s });
export const sleep = (ms: number): Step => ({ sleep: ms });

export function jsonPlan(status: number, obj: unknown, extraHeaders: Record<string, string | number> = {}): Plan {
  const payload = JSON.stringify(obj);
  return {
    status,
    headers: { ...extraHeaders, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    steps: [write(payload)],
  };
}

/** Everything a generator may look at. `raw` is the body as UTF-8 text, `body` its JSON (or null). */
export interface MockRequest {
  method: string;
  path: string;
  search: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- parsed client JSON, read defensively
}

export interface MockSettings {
  chunkDelayMs: number;
  latencyMs: number;
  splitDelayMs: number;
  forceError: string | number | null;
  rateLimitResetSec: number;
  unified5hStatus: string;
  /** Seconds since epoch for reset headers (the lab mock reads its own clock). */
  nowMs: () => number;
}

export function defaultSettings(env: NodeJS.ProcessEnv = process.env): MockSettings {
  return {
    chunkDelayMs: Number.parseInt(env['MOCK_CHUNK_DELAY_MS'] || '15', 10),
    latencyMs: Number.parseInt(env['MOCK_LATENCY_MS'] || '0', 10),
    splitDelayMs: Number.parseInt(env['MOCK_SPLIT_DELAY_MS'] || '20', 10),
    forceError: null,
    rateLimitResetSec: 3600,
    unified5hStatus: 'allowed',
    nowMs: () => Date.now(),
  };
}

export function header(req: MockRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
