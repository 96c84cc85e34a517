import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ResponseHead } from './response-parser.js';

/** Header fields whose later duplicates Node's IncomingMessage drops (`headers` keeps the first). */
const FIRST_WINS = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** `rawHeaders` as Node's `IncomingMessage.headers`: lower-case names; set-cookie an array; cookie joined by '; '; others by ', '. */
export function headersObject(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const prev = out[name];
    if (name === 'set-cookie') {
      if (prev === undefined) out[name] = [value];
      else (prev as string[]).push(value);
    } else if (prev === undefined) out[name] = value;
    else if (!FIRST_WINS.has(name)) out[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out as IncomingHttpHeaders;
}

/**
 * An upstream response as the relay reads it: the fields of Node's IncomingMessage it uses (`statusCode`,
 * `statusMessage`, `httpVersion`, `rawHeaders`, `headers` built on first use, `complete`) over a Readable of the
 * body. Destroyed before its end, it emits 'aborted' as IncomingMessage does, and reports an error only to
 * 'error' listeners that exist (IncomingMessage does not throw an unheard abort either).
 */
export class UpstreamResponse extends Readable {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly httpVersion: string;
  readonly rawHeaders: string[];
  complete = false;
  aborted = false;
  private headersCache: IncomingHttpHeaders | undefined;

  constructor(
    head: ResponseHead,
    private readonly hooks: { read(): void; destroyed(): void },
  ) {
    super();
    this.statusCode = head.statusCode;
    this.statusMessage = head.statusMessage;
    this.httpVersion = head.httpVersion;
    this.rawHeaders = head.rawHeaders;
  }

  get headers(): IncomingHttpHeaders {
    return (this.headersCache ??= headersObject(this.rawHeaders));
  }

  override _read(): void {
    this.hooks.read();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.complete) {
      this.aborted = true;
      this.emit('aborted');
    }
    this.hooks.destroyed();
    cb(err && this.listenerCount('error') > 0 ? err : null);
  }
}
