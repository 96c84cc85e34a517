/**
 * A minimal Anthropic-shaped upstream for the relay benchmark, as its own process: POST
 * /v1/messages answers JSON instantly, or (stream) message_start, `x-bench-events` text deltas
 * `x-bench-gap-ms` apart, message_delta and message_stop. Prints {"port":N} when ready.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const message = (text: string) =>
  JSON.stringify({
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 8 },
  });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let stream = false;
    try {
      stream = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { stream?: boolean }).stream === true;
    } catch {
      /* not JSON */
    }
    if (!stream) {
      const body = message('Hello from the bench upstream.');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'request-id': 'req_bench' });
      res.end(body);
      return;
    }
    const events = Number(req.headers['x-bench-events'] ?? 8);
    const gap = Number(req.headers['x-bench-gap-ms'] ?? 0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(
      `event: message_start\ndata: {"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}\n\n`,
    );
    let i = 0;
    const delta = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${'x'.repeat(200)}"}}\n\n`;
    const next = () => {
      if (res.destroyed) return;
      if (i++ >= events) {
        res.end(`event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":${events}}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`);
        return;
      }
      const ok = res.write(delta);
      if (gap > 0) setTimeout(next, gap);
      else if (ok) setImmediate(next);
      else res.once('drain', next);
    };
    next();
  });
});
server.keepAliveTimeout = 605_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
