import type { ServerResponse } from 'node:http';
import type { LegacyReply } from '../http/reply.js';
import type { RelayResult, StreamSink } from './official-relay.js';
import type { RelayServices } from './relay-services.js';

/**
 * Writing relay outcomes the way api.js / the relay services wrote them (relay-claude.md §2.4,
 * §2.6, §4.6; responses-and-errors.md §8).
 */
const HOP = new Set(['content-encoding', 'transfer-encoding', 'content-length']);

function addVary(reply: LegacyReply): void {
  const existing = reply.headers.get('Vary');
  if (!existing) reply.headers.set('Vary', 'Accept-Encoding');
  else if (!existing.toLowerCase().split(',').map((s) => s.trim()).includes('accept-encoding')) reply.headers.set('Vary', `${existing}, Accept-Encoding`);
}

/**
 * Non-stream result: upstream headers copied (minus hop headers), JSON re-serialised or raw text. `parsed` being the
 * result's own `json`, its serialisation is the result's body already.
 */
export function renderResult(reply: LegacyReply, result: RelayResult, parsed: unknown): void {
  for (const [name, value] of result.headers) if (!HOP.has(name.toLowerCase())) reply.headers.set(name, value);
  if (parsed !== undefined && result.json !== undefined && parsed === result.json) reply.jsonText(result.status, result.body);
  else if (parsed !== undefined) reply.json(result.status, parsed);
  else reply.send(result.status, result.body, 'text/html');
}

/**
 * Write a non-stream response once the usage just recorded is on the Redis connection (UsageRecorder.afterWrite: the
 * usage of a loop turn goes out in its check phase). The legacy recorded non-stream usage before it answered; so
 * does the relay. A response that cannot be written then ends the connection.
 */
export function respondAfterUsage(s: RelayServices, res: ServerResponse, write: () => void): void {
  s.usage.afterWrite(() => {
    try {
      write();
    } catch (err) {
      s.deps.log.error({ err }, 'relay response failed');
      res.destroy();
    }
  });
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The SSE headers api.js sets before scheduling (setHeader: positions of CORS/Cache-Control kept). */
export function setSseHeaders(reply: LegacyReply): void {
  reply.headers.set('Content-Type', 'text/event-stream');
  reply.headers.set('Cache-Control', 'no-cache');
  reply.headers.set('Connection', 'keep-alive');
  reply.headers.set('Access-Control-Allow-Origin', '*');
  reply.headers.set('X-Accel-Buffering', 'no');
}

/** A StreamSink over the reply envelope and the raw Node response. */
export function streamSink(reply: LegacyReply, res: ServerResponse): StreamSink {
  const writable = () => !res.destroyed && !res.writableEnded;
  return {
    headersSent: () => res.headersSent,
    writable,
    rawJson(status, text) {
      if (res.headersSent || !writable()) return;
      reply.headers.set('Content-Type', 'application/json');
      addVary(reply);
      reply.writeHead(status);
      res.write(text);
      res.end();
    },
    start(status) {
      if (!res.headersSent) reply.writeHead(status);
    },
    startError(status, extra) {
      if (res.headersSent) return;
      for (const [name, value] of extra ?? []) reply.headers.set(name, value);
      reply.writeHead(status);
    },
    write(chunk) {
      if (!res.headersSent) reply.writeHead(200);
      if (writable()) res.write(chunk);
    },
    end() {
      if (writable()) res.end();
    },
  };
}

/** api.js catch block: status and label by substring of the message (§2.6 step 3). */
export function catchBlockBody(err: unknown, nowIso: string): { status: number; body: Record<string, unknown> } {
  const message = (err as Error)?.message || '';
  let status = 500;
  let label = 'Relay service error';
  if (message.includes('Connection reset') || message.includes('socket hang up')) [status, label] = [502, 'Upstream connection error'];
  else if (message.includes('Connection refused')) [status, label] = [502, 'Upstream service unavailable'];
  else if (message.includes('timeout')) [status, label] = [504, 'Upstream timeout'];
  else if (message.includes('resolve') || message.includes('ENOTFOUND')) [status, label] = [502, 'Upstream hostname resolution failed'];
  return { status, body: { error: label, message: message || 'An unexpected error occurred', timestamp: nowIso } };
}

export const CONCURRENCY_FULL_BODY = {
  error: 'service_unavailable',
  message: 'All available Claude Console accounts have reached their concurrency limit. Please try again later.',
};
