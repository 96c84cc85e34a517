import { request } from 'node:http';
import { connect } from 'node:net';

/** Send exact request bytes and capture the answer: status, raw headers in order, body chunks with arrival times. */
export interface CapturedResponse {
  status: number;
  statusMessage: string;
  rawHeaders: string[];
  body: Buffer;
  chunks: Array<{ tMs: number; bytes: number }>;
  ttfbMs: number | null;
  totalMs: number;
  /** Set when the connection failed or was cut before the end. */
  error?: string;
}

/**
 * The header list actually put on the wire: the given one, plus `Host` and `Connection: close`
 * when missing (Node adds nothing on its own to a raw header array).
 */
export function wireHeaders(base: string, raw: readonly string[]): string[] {
  const url = new URL(base);
  const has = (n: string) => raw.some((h, i) => i % 2 === 0 && h.toLowerCase() === n);
  const out = [...raw];
  if (!has('host')) out.push('Host', url.host);
  if (!has('connection')) out.push('Connection', 'close');
  return out;
}

export interface ClientAbort {
  /** Close the socket this long after the response head arrived. */
  afterResponseMs?: number | undefined;
  /** Close the socket this long after sending, answer or not. */
  afterSendMs?: number | undefined;
}

export function sendCaptured(
  base: string,
  req: { method: string; path: string; rawHeaders: string[]; body: Buffer },
  timeoutMs = 60_000,
  abort: ClientAbort = {},
): Promise<CapturedResponse> {
  const url = new URL(base);
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 10) / 10;
  return new Promise((resolve) => {
    const chunks: Array<{ tMs: number; bytes: number }> = [];
    const parts: Buffer[] = [];
    let ttfb: number | null = null;
    let done = false;
    const finish = (r: Omit<CapturedResponse, 'body' | 'chunks' | 'ttfbMs' | 'totalMs'>) => {
      if (done) return;
      done = true;
      resolve({ ...r, body: Buffer.concat(parts), chunks, ttfbMs: ttfb, totalMs: ms() });
    };
    let status = 0;
    let statusMessage = '';
    let rawHeaders: string[] = [];
    // a flat raw header array keeps names, case and order exactly as given
    const out = request({
      host: url.hostname,
      port: Number(url.port || 80),
      method: req.method,
      path: req.path,
      headers: wireHeaders(base, req.rawHeaders) as unknown as Record<string, string>,
      agent: false,
      timeout: timeoutMs,
    });
    const hangUp = () => out.destroy(new Error('closed by the client (scenario)'));
    if (abort.afterSendMs !== undefined) setTimeout(hangUp, abort.afterSendMs);
    out.on('response', (res) => {
      if (abort.afterResponseMs !== undefined) setTimeout(hangUp, abort.afterResponseMs);
      status = res.statusCode ?? 0;
      statusMessage = res.statusMessage ?? '';
      rawHeaders = res.rawHeaders;
      res.on('data', (c: Buffer) => {
        const t = ms();
        ttfb ??= t;
        chunks.push({ tMs: t, bytes: c.length });
        parts.push(c);
      });
      res.on('end', () => finish({ status, statusMessage, rawHeaders }));
      res.on('error', (e) => finish({ status, statusMessage, rawHeaders, error: e.message }));
      res.on('close', () => finish({ status, statusMessage, rawHeaders, error: 'connection closed before the end' }));
    });
    out.on('timeout', () => out.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    out.on('error', (e) => finish({ status, statusMessage, rawHeaders, error: e.message }));
    out.end(req.body);
  });
}

/** Whether something still accepts TCP connections at base (did the backend die?). */
export function isListening(base: string, timeoutMs = 1000): Promise<boolean> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const s = connect({ host: url.hostname, port: Number(url.port || 80) });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.end();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}
