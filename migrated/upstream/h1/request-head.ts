/**
 * The request head Node's `http.request` writes for a call with a flat header list (`setHost: false`) on a
 * keep-alive agent, byte for byte: the request line, the headers in the given order and spelling, then the two
 * headers Node adds when the caller gave none of their kind — `Connection: keep-alive`, and for a method that
 * carries a body by default (not GET, HEAD, DELETE, OPTIONS, TRACE, CONNECT) `Transfer-Encoding: chunked` (with a
 * flat header list Node does not work out a Content-Length; the body then goes as one chunk and the last chunk).
 * Names and values are checked as Node checks them, with Node's error codes and messages, so a bad header fails
 * the call the same way. The head is written as latin1, as Node writes it.
 */

/** Methods whose requests Node does not send chunked by default. */
const NO_DEFAULT_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

/** Node's `checkIsHttpToken`. */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** Node's `checkInvalidHeaderChar`. */
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

export class HeaderError extends TypeError {
  constructor(
    message: string,
    readonly code: 'ERR_INVALID_HTTP_TOKEN' | 'ERR_INVALID_CHAR' | 'ERR_HTTP_INVALID_HEADER_VALUE',
  ) {
    super(message);
  }
  override get name(): string {
    return 'TypeError';
  }
}

export interface RequestHead {
  /** The head, ending with the empty line. */
  text: string;
  /** Whether the connection may be kept for another request (no `Connection: close` given). */
  keepAlive: boolean;
  /** The body goes chunked (given or added `Transfer-Encoding: chunked`): as one chunk and the last chunk, as Node sends it. */
  chunked: boolean;
}

export function requestHead(method: string, path: string, headers: readonly string[]): RequestHead {
  let text = `${method} ${path} HTTP/1.1\r\n`;
  let connection = false;
  let keepAlive = true;
  let length = false;
  let chunked = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1];
    if (!TOKEN.test(name)) throw new HeaderError(`Header name must be a valid HTTP token ["${name}"]`, 'ERR_INVALID_HTTP_TOKEN');
    if (value === undefined) throw new HeaderError(`Invalid value "undefined" for header "${name}"`, 'ERR_HTTP_INVALID_HEADER_VALUE');
    if (INVALID_VALUE_CHAR.test(value)) throw new HeaderError(`Invalid character in header content ["${name}"]`, 'ERR_INVALID_CHAR');
    text += `${name}: ${value}\r\n`;
    switch (name.length) {
      case 10:
        if (name.toLowerCase() === 'connection') {
          connection = true;
          if (/(?:^|\W)close(?:$|\W)/i.test(value)) keepAlive = false;
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') length = true;
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          length = true;
          chunked = /(?:^|\W)chunked(?:$|\W)/i.test(value);
        }
        break;
    }
  }
  if (!connection) text += 'Connection: keep-alive\r\n';
  if (!length && !NO_DEFAULT_BODY.has(method)) {
    text += 'Transfer-Encoding: chunked\r\n';
    chunked = true;
  }
  return { text: `${text}\r\n`, keepAlive, chunked };
}
