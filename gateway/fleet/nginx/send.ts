import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';

/** Minimal HTTP client for tests: one request, whole body, timings of the first byte. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** ms from sending to the first body chunk. */
  firstChunkMs: number;
  totalMs: number;
}

export function send(
  port: number,
  method: string,
  path: string,
  opts: { headers?: Record<string, string | number>; body?: Buffer | string; agent?: Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: opts.headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        let first = -1;
        res.on('data', (c: Buffer) => {
          if (first < 0) first = performance.now() - started;
          chunks.push(c);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            firstChunkMs: first,
            totalMs: performance.now() - started,
          }),
        );
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
