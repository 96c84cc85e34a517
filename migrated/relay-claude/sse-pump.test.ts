import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamSink } from './official-relay.js';
import { pumpSse, type PumpOutcome } from './sse-pump.js';

/** A StreamSink straight over a real Node response (chunked, as the relay's SSE responses are). */
function sinkOver(res: ServerResponse): StreamSink {
  const writable = () => !res.destroyed && !res.writableEnded;
  return {
    headersSent: () => res.headersSent,
    writable,
    rawJson: () => undefined,
    start: (status) => res.writeHead(status, { 'content-type': 'text/event-stream' }),
    startError: () => undefined,
    write: (chunk) => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk);
    },
    end: () => res.end(),
  };
}

interface Seen {
  type: string;
  /** Was the response socket still corked (bytes held back) when the event was handed on? */
  corked: number;
  /** Bytes the response socket had handed to the kernel by then. */
  bytesWritten: number;
}

let server: Server | null = null;
afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  server = null;
});

/** One request through a real server whose handler pumps `upstream` to the client; resolves with what each side saw. */
async function pumpThrough(feed: (upstream: PassThrough) => void): Promise<{ seen: Seen[]; outcome: PumpOutcome; body: string; firstChunkBytes: number }> {
  let result: { seen: Seen[]; outcome: PumpOutcome; firstChunkBytes: number } | null = null;
  server = createServer((_req, res) => {
    const upstream = new PassThrough();
    const seen: Seen[] = [];
    const ac = new AbortController();
    const first = { bytes: 0 };
    const out = sinkOver(res);
    const wrappedWrite = out.write;
    out.write = (chunk) => {
      wrappedWrite(chunk);
      if (!first.bytes) first.bytes = Buffer.byteLength(chunk);
    };
    void pumpSse(upstream, out, {
      signal: ac.signal,
      abort: () => upstream.destroy(),
      onEvent: (event) => seen.push({ type: (event as { type: string }).type, corked: res.socket!.writableCorked, bytesWritten: res.socket!.bytesWritten }),
    }).then((outcome) => (result = { seen, outcome, firstChunkBytes: first.bytes }));
    feed(upstream);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const body = await new Promise<string>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end();
  });
  await new Promise((r) => setImmediate(r));
  return { ...result!, body };
}

const ev = (type: string, extra = '') => `event: ${type}\ndata: {"type":"${type}"${extra}}\n\n`;

describe('pumpSse', () => {
  it('a chunk is on the client socket before its events are parsed (usage is recorded after the bytes left)', async () => {
    const whole = ev('message_start', ',"message":{"usage":{"input_tokens":3}}') + ev('content_block_delta') + ev('message_delta', ',"usage":{"output_tokens":7}') + ev('message_stop');
    const { seen, outcome, body } = await pumpThrough((up) => up.end(whole));
    expect(outcome).toBe('completed');
    expect(body).toBe(whole);
    expect(seen.map((s) => s.type)).toEqual(['message_start', 'content_block_delta', 'message_delta', 'message_stop']);
    // Before the change the events of a chunk were parsed while Node still held the chunk back (corked until
    // the next tick), so the usage write to Redis went out before the client's bytes.
    for (const s of seen) {
      expect(s.corked).toBe(0);
      expect(s.bytesWritten).toBeGreaterThan(Buffer.byteLength(whole));
    }
  });

  it('events of every chunk arrive in order and before the outcome, also when chunks split lines', async () => {
    const parts = [ev('message_start').slice(0, 10), ev('message_start').slice(10) + ev('ping').slice(0, 5), ev('ping').slice(5) + ev('message_stop')];
    const { seen, outcome, body } = await pumpThrough((up) => {
      let i = 0;
      const next = () => (i < parts.length ? (up.write(parts[i++]), setTimeout(next, 5)) : up.end());
      next();
    });
    expect(outcome).toBe('completed');
    expect(body).toBe(parts.join(''));
    expect(seen.map((s) => s.type)).toEqual(['message_start', 'ping', 'message_stop']);
  });

  it('an upstream that fails mid-stream: the events already received are still handed on before the outcome', async () => {
    const { seen, outcome } = await pumpThrough((up) => {
      up.write(ev('message_start') + ev('message_delta', ',"usage":{"output_tokens":2}'));
      setImmediate(() => up.destroy(new Error('upstream reset')));
    });
    expect(outcome).toBe('upstream-error');
    expect(seen.map((s) => s.type)).toEqual(['message_start', 'message_delta']);
  });

  it('an end in the same tick as the last chunk: the events of that chunk come first, then the unterminated tail', async () => {
    const { seen, outcome } = await pumpThrough((up) => {
      up.emit('data', Buffer.from(ev('message_start') + ev('message_delta', ',"usage":{"output_tokens":2}')));
      up.emit('data', Buffer.from('event: message_stop\ndata: {"type":"message_stop"}'));
      up.emit('end');
    });
    expect(outcome).toBe('completed');
    expect(seen.map((s) => s.type)).toEqual(['message_start', 'message_delta', 'message_stop']);
  });
});
