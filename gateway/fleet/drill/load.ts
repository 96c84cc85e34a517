import { Agent, request } from 'node:http';

/**
 * The drill's load: `clients` concurrent clients, each on its own keep-alive connection with its own API
 * key, looping requests until stopped; even-numbered clients stream (SSE), odd ones make JSON calls.
 * Every response is checked: status 200, body complete (a stream has all its events and the final
 * `done`), and served by ONE side (every event names the same side). Failures are kept with the upstream
 * address nginx reports (`X-Crs-Upstream`), so a drill can tell which gateway process lost them.
 */

export type Side = 'legacy' | 'migrated';

export interface Outcome {
  client: number;
  key: string;
  streaming: boolean;
  start: number;
  end: number;
  ok: boolean;
  status: number;
  side: Side | null;
  /** Gateway instance that ran the migrated module (drill-echo names it). */
  instance: string | null;
  upstream: string | null;
  error: string | null;
}

export interface LoadOptions {
  port: number;
  clients: number;
  path: string;
  /** Events per stream and the gap between them. */
  events: number;
  gapMs: number;
  /** How long the origin/module takes to answer a JSON call. */
  jsonDelayMs: number;
}

export interface RunningLoad {
  /** Stop starting new requests; resolves with every outcome once in-flight ones finish. */
  stop(): Promise<Outcome[]>;
  outcomes(): readonly Outcome[];
  inFlight(): number;
}

export const clientKey = (i: number) => `cr_drill_${String(i).padStart(4, '0')}`;

interface Parsed {
  ok: boolean;
  side: Side | null;
  instance: string | null;
  error: string | null;
}

function checkJson(body: string): Parsed {
  try {
    const j = JSON.parse(body) as { side?: string; instance?: string };
    if (j.side !== 'legacy' && j.side !== 'migrated') return { ok: false, side: null, instance: null, error: `no side in ${body.slice(0, 80)}` };
    return { ok: true, side: j.side, instance: j.instance ?? null, error: null };
  } catch {
    return { ok: false, side: null, instance: null, error: `not JSON: ${body.slice(0, 80)}` };
  }
}

function checkStream(body: string, events: number): Parsed {
  const sides = new Set<string>();
  const ticks: number[] = [];
  let done = false;
  for (const block of body.split('\n\n')) {
    if (!block) continue;
    const event = /^event: (\w+)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (!event || !data) return { ok: false, side: null, instance: null, error: `malformed event ${JSON.stringify(block.slice(0, 60))}` };
    const j = JSON.parse(data) as { side: string; i?: number; n?: number };
    sides.add(j.side);
    if (event === 'tick') ticks.push(j.i ?? -1);
    if (event === 'done') done = j.n === events;
  }
  const side = sides.size === 1 ? ([...sides][0] as Side) : null;
  if (sides.size !== 1) return { ok: false, side: null, instance: null, error: `stream served by ${[...sides].join('+') || 'nobody'}` };
  if (!done || ticks.length !== events || ticks.some((t, i) => t !== i)) {
    return { ok: false, side, instance: null, error: `incomplete stream: ${ticks.length}/${events} events, done=${done}` };
  }
  return { ok: true, side, instance: null, error: null };
}

export function startLoad(opts: LoadOptions): RunningLoad {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.clients, maxFreeSockets: opts.clients });
  const outcomes: Outcome[] = [];
  let stopping = false;
  let inFlight = 0;

  const one = (client: number): Promise<Outcome> =>
    new Promise((resolve) => {
      const streaming = client % 2 === 0;
      const key = clientKey(client);
      const path = streaming ? `${opts.path}?sse=${opts.events}&gapMs=${opts.gapMs}` : `${opts.path}?c=${client}&delayMs=${opts.jsonDelayMs}`;
      const body = JSON.stringify({ client, stream: streaming });
      const start = Date.now();
      let status = 0;
      let upstream: string | null = null;
      let finished = false;
      const finish = (p: Parsed) => {
        if (finished) return;
        finished = true;
        inFlight--;
        resolve({ client, key, streaming, start, end: Date.now(), status, upstream, ...p, ok: p.ok && status === 200 });
      };
      inFlight++;
      const req = request(
        {
          host: '127.0.0.1',
          port: opts.port,
          method: 'POST',
          path,
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-api-key': key },
        },
        (res) => {
          status = res.statusCode ?? 0;
          const u = res.headers['x-crs-upstream'];
          upstream = typeof u === 'string' ? u : null;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            if (status !== 200) return finish({ ok: false, side: null, instance: null, error: `HTTP ${status}: ${text.slice(0, 120)}` });
            finish(streaming ? checkStream(text, opts.events) : checkJson(text));
          });
          res.on('aborted', () => finish({ ok: false, side: null, instance: null, error: 'response aborted mid-body' }));
          res.on('error', (err) => finish({ ok: false, side: null, instance: null, error: `response error: ${err.message}` }));
        },
      );
      req.on('error', (err) => finish({ ok: false, side: null, instance: null, error: `request error: ${err.message}` }));
      req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
      req.end(body);
    });

  const loops = Array.from({ length: opts.clients }, async (_, client) => {
    // Spread the start over ~100 ms so streams do not move in lockstep.
    await new Promise((r) => setTimeout(r, (client * 97) % 100));
    while (!stopping) outcomes.push(await one(client));
  });

  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      agent.destroy();
      return outcomes;
    },
    outcomes: () => outcomes,
    inFlight: () => inFlight,
  };
}

/** p-quantile of numbers (nearest rank). */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
