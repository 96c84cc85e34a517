import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { summarize, type Summary } from './percentiles.js';

/**
 * A small closed-loop HTTP load generator over keep-alive connections: `connections` workers, each
 * sending its next request when the previous one ended, for `durationMs` or until `requests` are done.
 * Latency = request start to last body byte; head = to response head; firstByte = to first body chunk
 * (the number that matters for SSE). Either give `url` (+ method/headers/body) or a `request` function.
 */

export interface LoadOptions {
  url?: string;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  /** Custom request: resolve when done; may report its own head/firstByte times (ms from start). */
  request?: (i: number) => Promise<{ headMs?: number; firstByteMs?: number } | void>;
  connections: number;
  durationMs?: number;
  requests?: number;
  /** Requests (total) sent before measuring starts, to warm sockets and JITs. Default connections*20. */
  warmupRequests?: number;
  /** Also return the raw samples (to merge several interleaved runs with `summarize`). */
  keepSamples?: boolean;
}

export interface LoadResult {
  requests: number;
  errors: number;
  durationMs: number;
  rps: number;
  latency: Summary;
  head: Summary;
  firstByte: Summary;
  firstError?: string;
  samples?: { latency: number[]; head: number[]; firstByte: number[] };
}

interface Sample {
  totalMs: number;
  headMs: number;
  firstByteMs: number;
}

function httpOnce(url: URL, agent: Agent, opts: LoadOptions): Promise<Sample> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const headers: OutgoingHttpHeaders = { ...opts.headers };
    if (body) headers['content-length'] = String(body.length);
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: opts.method ?? 'GET', headers, agent },
      (res) => {
        const headMs = performance.now() - started;
        let firstByteMs = 0;
        res.on('data', () => {
          if (!firstByteMs) firstByteMs = performance.now() - started;
        });
        res.on('end', () => {
          const totalMs = performance.now() - started;
          if ((res.statusCode ?? 0) >= 500) reject(new Error(`status ${res.statusCode}`));
          else resolve({ totalMs, headMs, firstByteMs: firstByteMs || totalMs });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  if (!opts.url && !opts.request) throw new Error('runLoad needs url or request');
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, maxFreeSockets: opts.connections });
  const url = opts.url ? new URL(opts.url) : null;
  const once = async (i: number): Promise<Sample> => {
    if (url) return httpOnce(url, agent, opts);
    const started = performance.now();
    const r = await opts.request!(i);
    const totalMs = performance.now() - started;
    return { totalMs, headMs: r?.headMs ?? totalMs, firstByteMs: r?.firstByteMs ?? r?.headMs ?? totalMs };
  };

  // Warm-up.
  const warm = opts.warmupRequests ?? opts.connections * 20;
  let w = 0;
  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      while (w < warm) {
        w++;
        await once(-1).catch(() => {});
      }
    }),
  );

  const total: number[] = [];
  const head: number[] = [];
  const first: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const started = performance.now();
  const deadline = opts.durationMs !== undefined ? started + opts.durationMs : Infinity;
  const limit = opts.requests ?? Infinity;
  if (deadline === Infinity && limit === Infinity) throw new Error('runLoad needs durationMs or requests');

  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      while (issued < limit && performance.now() < deadline) {
        const i = issued++;
        try {
          const s = await once(i);
          total.push(s.totalMs);
          head.push(s.headMs);
          first.push(s.firstByteMs);
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  const durationMs = performance.now() - started;
  agent.destroy();
  return {
    requests: total.length,
    errors,
    durationMs,
    rps: (total.length / durationMs) * 1000,
    latency: summarize(total),
    head: summarize(head),
    firstByte: summarize(first),
    ...(firstError ? { firstError } : {}),
    ...(opts.keepSamples ? { samples: { latency: total, head, firstByte: first } } : {}),
  };
}
