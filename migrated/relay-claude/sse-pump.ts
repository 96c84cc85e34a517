import type { Readable } from 'node:stream';
import type { StreamSink } from './official-relay.js';
import { parseDataLine, SseLineFramer } from './sse-framer.js';

export type PumpOutcome = 'completed' | 'client-gone' | 'upstream-error';

export interface PumpOptions {
  /** Parsed `data:` payloads, in order. */
  onEvent(event: unknown): void;
  /** Aborted when the client goes away: the upstream is stopped with `abort`. */
  signal: AbortSignal;
  abort(err: Error): void;
  /** Written before ending when the upstream stream fails (console: `event: error` Stream error). */
  onUpstreamError?(err: Error): void;
  /** Rewrites each batch of complete lines before it is written ('' = write nothing): the OpenAI-compat converter. */
  transform?(batch: string): string;
}

/**
 * Forwards an upstream SSE body to the client re-chunked on line ends (SseLineFramer), feeding
 * every complete `data:` line to `onEvent`. Ends the client response when the upstream ends
 * (after flushing a non-blank tail) or fails; on client disconnect it stops the upstream.
 */
export function pumpSse(stream: Readable, out: StreamSink, o: PumpOptions): Promise<PumpOutcome> {
  const framer = new SseLineFramer();
  const emit = (bytes: Buffer | null) => {
    if (!bytes || !out.writable()) return;
    if (!o.transform) return out.write(bytes);
    const text = o.transform(bytes.toString('utf8'));
    if (text) out.write(text);
  };
  // A chunk's lines are parsed after its bytes are on their way: the response socket is corked until the next
  // tick (Node's chunked writes), so the lines wait in `pending` for a tick queued after that uncork; `finish`
  // drains them first, so events still arrive in order and before the outcome.
  let pending: string[] = [];
  const feedPending = () => {
    const lines = pending;
    pending = [];
    for (const line of lines) {
      const event = parseDataLine(line);
      if (event !== undefined) o.onEvent(event);
    }
  };
  const feed = (lines: string[]) => {
    if (lines.length === 0) return;
    if (pending.length === 0) process.nextTick(feedPending);
    for (const line of lines) pending.push(line);
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: PumpOutcome) => {
      if (done) return;
      done = true;
      o.signal.removeEventListener('abort', onAbort);
      feedPending();
      if (outcome === 'completed') {
        const rest = framer.end();
        emit(rest.out);
        pending = rest.lines;
        feedPending();
      }
      if (out.writable()) out.end();
      resolve(outcome);
    };
    const onAbort = () => {
      o.abort(new Error('Client disconnected'));
      finish('client-gone');
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      const r = framer.push(chunk);
      emit(r.out);
      feed(r.lines);
    });
    stream.once('end', () => finish('completed'));
    stream.once('close', () => finish('upstream-error'));
    stream.on('error', (err: Error) => {
      if (!done && out.writable()) o.onUpstreamError?.(err);
      finish('upstream-error');
    });
    if (o.signal.aborted) onAbort();
  });
}
