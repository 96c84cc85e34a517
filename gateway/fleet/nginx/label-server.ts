import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small HTTP origin for nginx tests and drills that says who answered: `{"side": "<label>", ...}`.
 * `?sse=N&gapMs=M` streams N SSE events M ms apart, each naming the side, then `event: done`;
 * `?delayMs=D` delays a JSON answer (a slow upstream call).
 */

export interface LabelServer {
  label: string;
  port: number;
  /** Requests answered so far. */
  count(): number;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<number> {
  let n = 0;
  for await (const chunk of req) n += (chunk as Buffer).length;
  return n;
}

export function sseEvent(side: string, i: number): string {
  return `event: tick\ndata: {"side":"${side}","i":${i}}\n\n`;
}

export async function answerLabelled(req: IncomingMessage, res: ServerResponse, side: string, extra: Record<string, unknown> = {}): Promise<void> {
  const bytes = await readBody(req);
  const url = new URL(req.url ?? '/', 'http://x');
  const sse = Number(url.searchParams.get('sse') ?? 0);
  if (sse > 0) {
    const gap = Number(url.searchParams.get('gapMs') ?? 10);
    res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache', 'Connection', 'keep-alive']);
    for (let i = 0; i < sse; i++) {
      if (res.destroyed) return;
      res.write(sseEvent(side, i));
      await new Promise((r) => setTimeout(r, gap));
    }
    res.end(`event: done\ndata: {"side":"${side}","n":${sse}}\n\n`);
    return;
  }
  const delay = Number(url.searchParams.get('delayMs') ?? 0);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  if (res.destroyed) return;
  const body = JSON.stringify({
    side,
    ...extra,
    method: req.method,
    url: req.url,
    bytes,
    realIp: req.headers['x-real-ip'] ?? null,
    forwardedFor: req.headers['x-forwarded-for'] ?? null,
    forwardedProto: req.headers['x-forwarded-proto'] ?? null,
    sessionId: req.headers['session_id'] ?? null,
  });
  res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
  res.end(body);
}

export async function startLabelServer(label: string, port = 0): Promise<LabelServer> {
  let served = 0;
  const server: Server = createServer((req, res) => {
    served++;
    answerLabelled(req, res, label).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    label,
    port: (server.address() as AddressInfo).port,
    count: () => served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
