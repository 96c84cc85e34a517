import type { IncomingMessage } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { HttpSurfaceOptions } from './legacy-surface.js';

/**
 * Request body intake as the legacy's pipeline did it: the Content-Length pre-check
 * (requestSizeLimit, 413 before X-Request-ID exists), then express.json({limit:'10mb', strict, verify})
 * for `application/json` and express.urlencoded for forms; other types leave the body `{}`.
 * Failures carry the status body-parser gave them and the message the global error handler
 * inspects (responses-and-errors.md §5, §6).
 */

export const JSON_LIMIT_BYTES = 10 * 1024 * 1024;

export type BodyResult =
  | { ok: true; body: unknown; raw: Buffer }
  /** Content-Length over REQUEST_MAX_SIZE_MB: answer with `precheckTooLarge()` at stage `before-logger`. */
  | { ok: false; kind: 'precheck'; status: 413 }
  /** A body-parser error for the global error handler (stage `after-logger`). */
  | { ok: false; kind: 'parser'; status: number; message: string; name: string };

function mediaType(req: IncomingMessage): { type: string; charset: string | undefined } {
  const header = req.headers['content-type'];
  if (!header) return { type: '', charset: undefined };
  const [type, ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";]*)"?\s*$/i.exec(p);
    if (m) charset = m[1]!.toLowerCase();
  }
  return { type: type!.trim().toLowerCase(), charset };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && !Number.isNaN(Number.parseInt(req.headers['content-length'], 10)));
}

/** The pre-check the legacy runs on every request (parseInt of Content-Length, missing = 0). */
export function exceedsPrecheck(req: IncomingMessage, surface: HttpSurfaceOptions): boolean {
  const length = Number.parseInt(req.headers['content-length'] ?? '0', 10);
  return length > surface.requestMaxBytes;
}

export function precheckTooLargeBody(): Record<string, unknown> {
  return { error: 'Payload Too Large', message: 'Request body size exceeds limit', limit: '10MB' };
}

/** Read and discard the rest of a request; resolves when it ended, aborted or failed. */
function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (req.readableEnded || req.destroyed) return resolve();
    const done = () => resolve();
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}

function parserError(status: number, message: string, name = 'Error'): BodyResult {
  return { ok: false, kind: 'parser', status, message, name };
}

async function readStream(stream: Readable, limit: number, expected: number | null): Promise<{ buf: Buffer } | { error: BodyResult }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (r: { buf: Buffer } | { error: BodyResult }) => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      stream.removeListener('aborted', onAborted);
      resolve(r);
    };
    let tooLarge = false;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (tooLarge) return;
      if (received > limit) {
        // body-parser reads off the entire request before answering
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (tooLarge) {
        finish({ error: parserError(413, 'request entity too large', 'PayloadTooLargeError') });
        return;
      }
      if (expected !== null && received !== expected) {
        finish({ error: parserError(400, 'request size did not match content length', 'BadRequestError') });
        return;
      }
      finish({ buf: Buffer.concat(chunks, received) });
    };
    const onError = (err: Error) => finish({ error: parserError(400, err.message) });
    const onAborted = () => finish({ error: parserError(400, 'request aborted', 'BadRequestError') });
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('aborted', onAborted);
  });
}

/**
 * body-parser's strict-mode message: it re-parses the text with the offending first character
 * and everything after it replaced by '#', so the V8 message names that character.
 */
function strictViolationMessage(text: string, first: string): string {
  const index = text.indexOf(first);
  let partial = '';
  if (index !== -1) partial = text.substring(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
    return 'strict violation';
  } catch (e) {
    return (e as Error).message.replace(/#+/g, (placeholder) => text.substring(index, index + placeholder.length));
  }
}

function firstNonWhitespace(text: string): string | undefined {
  const m = /^[\x20\x09\x0a\x0d]*(.)/.exec(text);
  return m ? m[1] : undefined;
}

/** Read and parse the body as the legacy would have. Requests without a body resolve to `{}`. */
export async function readLegacyBody(req: IncomingMessage, surface: HttpSurfaceOptions): Promise<BodyResult> {
  if (exceedsPrecheck(req, surface)) return { ok: false, kind: 'precheck', status: 413 };
  const { type, charset } = mediaType(req);
  const isJson = type === 'application/json';
  const isForm = type === 'application/x-www-form-urlencoded';
  if (!hasBody(req) || (!isJson && !isForm)) return { ok: true, body: {}, raw: Buffer.alloc(0) };

  const cs = charset ?? 'utf-8';
  if (isJson && cs.slice(0, 4) !== 'utf-') return parserError(415, `unsupported charset "${cs.toUpperCase()}"`, 'UnsupportedMediaTypeError');
  if (isForm && cs !== 'utf-8') return parserError(415, `unsupported charset "${cs.toUpperCase()}"`, 'UnsupportedMediaTypeError');

  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  let stream: Readable = req;
  let expected: number | null = null;
  if (encoding === 'identity') {
    const cl = req.headers['content-length'];
    expected = cl !== undefined ? Number.parseInt(cl, 10) : null;
    if (expected !== null && expected > JSON_LIMIT_BYTES) {
      // refused without reading, but answered only once the request has been read off (body-parser's dump)
      await drain(req);
      return parserError(413, 'request entity too large', 'PayloadTooLargeError');
    }
  } else if (encoding === 'gzip') {
    stream = req.pipe(createGunzip());
  } else if (encoding === 'deflate') {
    stream = req.pipe(createInflate());
  } else {
    req.resume();
    return parserError(415, `unsupported content encoding "${encoding}"`, 'UnsupportedMediaTypeError');
  }

  const read = await readStream(stream, JSON_LIMIT_BYTES, expected);
  if ('error' in read) return read.error;
  const raw = read.buf;
  const text = raw.toString('utf8');

  if (isForm) {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(text)) {
      const prev = out[k];
      if (prev === undefined) out[k] = v;
      else out[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return { ok: true, body: out, raw };
  }

  // app.js verify hook: a non-empty body that is only whitespace → 403 (body-parser wraps verify errors).
  if (raw.length > 0 && !text.trim()) return parserError(403, 'Invalid JSON: empty body');
  if (raw.length === 0) return { ok: true, body: {}, raw };
  const first = firstNonWhitespace(text);
  if (first !== '{' && first !== '[') return parserError(400, strictViolationMessage(text, first ?? ''), 'SyntaxError');
  try {
    return { ok: true, body: JSON.parse(text), raw };
  } catch (e) {
    return parserError(400, (e as Error).message, 'SyntaxError');
  }
}

/**
 * The global error handler's body for a parser failure (production form; with
 * NODE_ENV=development the raw message is shown — the stack is not reproduced).
 */
export function errorHandlerBody(
  err: { message: string; name: string },
  requestId: string,
  nowIso: string,
  surface: HttpSurfaceOptions,
): Record<string, unknown> {
  let error = 'Internal Server Error';
  let message = 'Something went wrong';
  switch (err.name) {
    case 'ValidationError':
      error = 'Validation Error';
      message = 'Invalid input data';
      break;
    case 'CastError':
      error = 'Cast Error';
      message = 'Invalid data format';
      break;
    case 'MongoError':
    case 'RedisError':
      error = 'Database Error';
      message = 'Database temporarily unavailable';
      break;
    case 'TimeoutError':
      error = 'Request Timeout';
      message = 'Request took too long to process';
      break;
    default:
      if (err.message && !surface.development) {
        if (err.message.includes('ECONNREFUSED')) message = 'Service temporarily unavailable';
        else if (err.message.includes('timeout')) message = 'Request timeout';
      }
  }
  return { error, message: surface.development ? err.message : message, requestId, timestamp: nowIso };
}
