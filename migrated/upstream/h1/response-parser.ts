/**
 * An incremental HTTP/1.1 response parser: bytes in (any split), events out. What Node's client parser
 * reports for the responses an upstream sends: the head (status, reason, raw header pairs with values trimmed
 * of surrounding spaces and tabs), body bytes with the framing removed (Content-Length, chunked with extensions
 * and trailers, or up to the connection's end), and the message's end. Informational heads (1xx) are skipped;
 * 204, 304 and responses to HEAD have no body. A malformed head or chunk line is a parse error (the connection
 * cannot be trusted any further). No I/O: the caller feeds it what the socket reads.
 */

export interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  httpVersion: string;
  /** Flat [name, value, …] as received. */
  rawHeaders: string[];
  /** The server allows another request on this connection (HTTP/1.1 without `Connection: close`, or 1.0 with keep-alive). */
  keepAlive: boolean;
}

export interface ParserEvents {
  head(head: ResponseHead): void;
  body(chunk: Buffer): void;
  /** The whole message was read; bytes after it (there should be none) are kept: see `leftover`. */
  end(): void;
}

export class ResponseParseError extends Error {
  readonly code = 'HPE_INVALID_RESPONSE';
}

/** Longest head accepted (Node's default --max-http-header-size). */
const MAX_HEAD_BYTES = 16 * 1024;

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/** `line` from `start`, without the spaces and tabs around it (a header value as llhttp reports it). */
function trimOws(line: string, start: number): string {
  let from = start;
  let to = line.length;
  while (from < to && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
  while (to > from && (line.charCodeAt(to - 1) === 32 || line.charCodeAt(to - 1) === 9)) to--;
  return line.slice(from, to);
}

export class ResponseParser {
  private state = State.Head;
  private pending: Buffer | null = null;
  private remaining = 0;
  private ended = false;

  constructor(
    private readonly events: ParserEvents,
    private readonly noBody = false,
  ) {}

  /** Bytes received after the message's end (a server that sent more than it framed). */
  get leftover(): boolean {
    return this.state === State.Done && this.pending !== null && this.pending.length > 0;
  }

  /** True while the body runs up to the connection's end (neither length nor chunked). */
  get readsUntilClose(): boolean {
    return this.state === State.UntilClose;
  }

  feed(data: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = null;
    let at = 0;
    while (at < buf.length && this.state !== State.Done) {
      switch (this.state) {
        case State.Head: {
          const end = buf.indexOf(CRLF_CRLF, at);
          if (end === -1) {
            if (buf.length - at > MAX_HEAD_BYTES) throw new ResponseParseError('Header overflow');
            this.pending = buf.subarray(at);
            return;
          }
          this.onHead(buf.toString('latin1', at, end));
          at = end + 4;
          break;
        }
        case State.Fixed:
        case State.ChunkData: {
          // a counted stretch of body: the whole message (Content-Length) or one chunk's data
          const n = Math.min(this.remaining, buf.length - at);
          this.remaining -= n;
          const chunk = buf.subarray(at, at + n);
          at += n;
          if (this.remaining === 0) this.state = this.state === State.Fixed ? State.Done : State.ChunkDataEnd;
          this.events.body(chunk);
          break;
        }
        case State.UntilClose: {
          const chunk = at === 0 ? buf : buf.subarray(at);
          at = buf.length;
          this.events.body(chunk);
          break;
        }
        case State.ChunkSize:
        case State.Trailers:
        case State.ChunkDataEnd: {
          const eol = buf.indexOf(10, at);
          if (eol === -1) {
            if (buf.length - at > MAX_HEAD_BYTES) throw new ResponseParseError('Chunk line overflow');
            this.pending = buf.subarray(at);
            return;
          }
          const line = buf.toString('latin1', at, eol > at && buf[eol - 1] === 13 ? eol - 1 : eol);
          at = eol + 1;
          this.onLine(line);
          break;
        }
      }
    }
    if (this.state === State.Done && !this.ended) {
      if (at < buf.length) this.pending = buf.subarray(at);
      this.ended = true;
      this.events.end();
    }
  }

  /** The connection ended: completes a body that runs until close; false when the message was cut short. */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.ended = true;
      this.events.end();
      return true;
    }
    return this.state === State.Done;
  }

  private onHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
    if (!m) throw new ResponseParseError('Invalid status line');
    const statusCode = Number(m[2]);
    const rawHeaders: string[] = [];
    let length: number | null = null;
    let chunked = false;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ResponseParseError('Invalid header line');
      const name = line.slice(0, colon);
      const value = trimOws(line, colon + 1);
      rawHeaders.push(name, value);
      // only three names matter for the framing: compare the lower-cased name only when its length fits
      const n = name.length;
      if (n !== 14 && n !== 17 && n !== 10) continue;
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (!/^\d+$/.test(value)) throw new ResponseParseError('Invalid Content-Length');
        length = Number(value);
      } else if (lower === 'transfer-encoding') chunked = /(?:^|,)[ \t]*chunked[ \t]*$/i.test(value);
      else if (lower === 'connection') connection = connection ? `${connection}, ${value}` : value;
    }
    if (statusCode >= 100 && statusCode < 200 && statusCode !== 101) return; // informational: the real head follows
    const httpVersion = m[1]!;
    const keepAlive = httpVersion === '1.1' ? !/(?:^|\W)close(?:$|\W)/i.test(connection) : /(?:^|\W)keep-alive(?:$|\W)/i.test(connection);
    const bodyless = this.noBody || statusCode === 204 || statusCode === 304;
    if (bodyless) this.state = State.Done;
    else if (chunked) this.state = State.ChunkSize;
    else if (length !== null) {
      this.remaining = length;
      this.state = length === 0 ? State.Done : State.Fixed;
    } else this.state = State.UntilClose;
    this.events.head({ statusCode, statusMessage: m[3] ?? '', httpVersion, rawHeaders, keepAlive: keepAlive && this.state !== State.UntilClose });
  }

  private onLine(line: string): void {
    if (this.state === State.ChunkDataEnd) {
      if (line !== '') throw new ResponseParseError('Invalid chunk end');
      this.state = State.ChunkSize;
      return;
    }
    if (this.state === State.Trailers) {
      if (line === '') this.state = State.Done;
      return;
    }
    const semi = line.indexOf(';');
    const hex = (semi === -1 ? line : line.slice(0, semi)).trim();
    if (!/^[0-9a-fA-F]{1,15}$/.test(hex)) throw new ResponseParseError('Invalid chunk size');
    const size = parseInt(hex, 16);
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
  }
}
