import type { IncomingMessage, ServerResponse } from 'node:http';
import { isFresh, weakEtag } from './etag.js';
import { HeaderList } from './header-list.js';
import { envelopeHeaders, requestFactsOf, type PipelineStage } from './legacy-headers.js';
import { defaultHttpSurface, type HttpSurfaceOptions } from './legacy-surface.js';
import { maybeCompress } from './compress.js';

/**
 * The response layer every migrated module writes through: the legacy's envelope headers
 * (helmet, CORS, X-Request-ID, security/cache headers) in wire order, then the body the way
 * express' res.json / res.send would have framed it (Content-Type with charset, Content-Length,
 * weak ETag, 304 on a matching If-None-Match, `Vary: Accept-Encoding` and compression as the
 * legacy's `compression` middleware did). Node adds Date / Connection / Keep-Alive itself.
 */
export interface LegacyReply {
  readonly requestId: string;
  /** Envelope headers so far; handlers may `.set()` their own (kept in order, before Content-Type). */
  readonly headers: HeaderList;
  /** res.status(status).json(body). */
  json(status: number, body: unknown): void;
  /** res.status(status).json(v) where `text` is JSON.stringify(v), already made (the same bytes, without serialising again). */
  jsonText(status: number, text: string): void;
  /** res.status(status).send(string|Buffer) with the given Content-Type (charset=utf-8 added to strings, as express does). */
  send(status: number, body: string | Buffer, contentType: string): void;
  /**
   * Write the status line and the envelope (+ `extra`) without a body framing: for streams.
   * Returns the flat header array that was written.
   */
  writeHead(status: number, extra?: ReadonlyArray<readonly [string, string]>): string[];
}

export interface ReplyOptions {
  requestId: string;
  surface?: HttpSurfaceOptions;
  stage?: PipelineStage;
}

export const requestFacts = requestFactsOf;

function addVary(headers: HeaderList, field: string): void {
  const existing = headers.get('Vary');
  if (existing === undefined) {
    headers.set('Vary', field);
    return;
  }
  if (existing === '*') return;
  const parts = existing.split(',').map((s) => s.trim().toLowerCase());
  if (parts.includes(field.toLowerCase()) || parts.includes('*')) return;
  headers.set('Vary', existing ? `${existing}, ${field}` : field);
}

/** compressible() for the types the legacy's JSON/text responses use. */
function isCompressible(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  return type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/javascript';
}

function setCharset(type: string): string {
  if (/;\s*charset=/i.test(type)) return type.replace(/(;\s*charset=)[^;]*/i, '$1utf-8');
  return `${type}; charset=utf-8`;
}

export function legacyReply(req: IncomingMessage, res: ServerResponse, opts: ReplyOptions): LegacyReply {
  const surface = opts.surface ?? defaultHttpSurface;
  const facts = requestFacts(req);
  const headers = envelopeHeaders(facts, surface, opts.stage ?? 'routed', opts.requestId);

  const finish = (status: number, body: Buffer, isString: boolean, contentType: string) => {
    if (!headers.has('Content-Type')) headers.set('Content-Type', isString ? setCharset(contentType) : contentType);
    else if (isString) headers.set('Content-Type', setCharset(headers.get('Content-Type')!));
    let out = body;
    let statusCode = status;
    const etag = weakEtag(body);
    headers.set('Content-Length', String(body.length));
    headers.set('ETag', etag);
    const method = facts.method;
    if ((method === 'GET' || method === 'HEAD') && ((status >= 200 && status < 300) || status === 304) && isFresh(req.headers, etag)) {
      statusCode = 304;
    }
    if (statusCode === 204 || statusCode === 304) {
      headers.remove('Content-Type');
      headers.remove('Content-Length');
      headers.remove('Transfer-Encoding');
      out = Buffer.alloc(0);
    }
    // compression middleware (filter: not exactly text/event-stream, compressible type; no-transform respected)
    const ct = headers.get('Content-Type');
    const cacheControl = headers.get('Cache-Control');
    if (ct !== 'text/event-stream' && isCompressible(ct) && !(cacheControl && /(?:^|,)\s*?no-transform\s*?(?:,|$)/.test(cacheControl))) {
      addVary(headers, 'Accept-Encoding');
      if (statusCode !== 304 && statusCode !== 204 && method !== 'HEAD' && out.length >= 1024) {
        const compressed = maybeCompress(req.headers['accept-encoding'], out);
        if (compressed) {
          headers.set('Content-Encoding', compressed.encoding);
          headers.remove('Content-Length');
          out = compressed.body;
        }
      }
    }
    res.writeHead(statusCode, headers.toFlat());
    res.end(out);
  };

  return {
    requestId: opts.requestId,
    headers,
    json(status, body) {
      const text = JSON.stringify(body) ?? '';
      finish(status, Buffer.from(text, 'utf8'), true, 'application/json');
    },
    jsonText(status, text) {
      finish(status, Buffer.from(text, 'utf8'), true, 'application/json');
    },
    send(status, body, contentType) {
      if (typeof body === 'string') finish(status, Buffer.from(body, 'utf8'), true, contentType);
      else finish(status, body, false, contentType);
    },
    writeHead(status, extra) {
      if (extra) headers.merge(extra);
      const flat = headers.toFlat();
      res.writeHead(status, flat);
      return flat;
    },
  };
}

/** One-shot `res.status(status).json(body)` with the legacy envelope. */
export function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  opts: ReplyOptions & { headers?: ReadonlyArray<readonly [string, string]> },
): void {
  const reply = legacyReply(req, res, opts);
  if (opts.headers) reply.headers.merge(opts.headers);
  reply.json(status, body);
}
