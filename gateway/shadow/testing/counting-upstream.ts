import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny deterministic upstream for shadow tests: POST /v1/messages answers JSON, or SSE in
 * several writes when the body has "stream":true; the answer depends only on the request body.
 * It counts every call, so a test can prove the upstream was paid once per client request.
 */
export interface CountingUpstream {
  url: string;
  calls: Array<{ method: string; url: string; body: string }>;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (s += d));
    req.on('end', () => resolve(s));
  });
}

export async function startCountingUpstream(eventDelayMs = 5): Promise<CountingUpstream> {
  const calls: CountingUpstream['calls'] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    calls.push({ method: req.method ?? '', url: req.url ?? '', body });
    let parsed: { stream?: boolean; messages?: unknown[] } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      /* not JSON */
    }
    const n = Array.isArray(parsed.messages) ? parsed.messages.length : 0;
    if (parsed.stream) {
      res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache', 'request-id', `req_${n}`]);
      const events = [
        `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_${n}","usage":{"input_tokens":${10 + n},"output_tokens":1}}}\n\n`,
        'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hello"}}\n\n',
        'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":7}}\n\n',
        'event: message_stop\ndata: {"type":"message_stop"}\n\n',
      ];
      for (const e of events) {
        res.write(e);
        await new Promise((r) => setTimeout(r, eventDelayMs));
      }
      res.end();
      return;
    }
    const out = JSON.stringify({ id: `msg_${n}`, type: 'message', content: [{ type: 'text', text: 'Hello' }], usage: { input_tokens: 10 + n, output_tokens: 7 } });
    res.writeHead(200, ['Content-Type', 'application/json', 'request-id', `req_${n}`]);
    res.end(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
