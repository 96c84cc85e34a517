import { describe, expect, it } from 'vitest';
import { ResponseParser, ResponseParseError, type ResponseHead } from './response-parser.js';

interface Parsed {
  head: ResponseHead | null;
  body: string;
  ended: boolean;
  leftover: boolean;
}

/** Feed `wire` cut at the given offsets; what the parser reported. */
function parse(wire: string, cuts: number[] = [], noBody = false, close = false): Parsed {
  const out: Parsed = { head: null, body: '', ended: false, leftover: false };
  const p = new ResponseParser(
    {
      head: (h) => (out.head = h),
      body: (c) => (out.body += c.toString('latin1')),
      end: () => (out.ended = true),
    },
    noBody,
  );
  const bytes = Buffer.from(wire, 'latin1');
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) p.feed(bytes.subarray(at, cut));
    at = Math.max(at, cut);
  }
  if (close) p.finish();
  out.leftover = p.leftover;
  return out;
}

/** The same parse at every single cut and at every pair of cuts (a small wire): all must agree. */
function everySplit(wire: string, close = false): Parsed {
  const whole = parse(wire, [], false, close);
  for (let i = 1; i < wire.length; i++) {
    expect(parse(wire, [i], false, close)).toEqual(whole);
    for (let j = i + 1; j < wire.length; j += 3) expect(parse(wire, [i, j], false, close)).toEqual(whole);
  }
  return whole;
}

const SSE = 'event: message_start\ndata: {"type":"message_start"}\n\n';

describe('ResponseParser', () => {
  it('Content-Length: head fields, trimmed values, exact body, keep-alive', () => {
    const r = everySplit('HTTP/1.1 200 OK\r\nContent-Type:  application/json \r\nContent-Length: 7\r\nX-Empty:\r\n\r\n{"a":1}');
    expect(r.head).toEqual({ statusCode: 200, statusMessage: 'OK', httpVersion: '1.1', rawHeaders: ['Content-Type', 'application/json', 'Content-Length', '7', 'X-Empty', ''], keepAlive: true });
    expect([r.body, r.ended, r.leftover]).toEqual(['{"a":1}', true, false]);
  });

  it('chunked with extensions and trailers', () => {
    const wire = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${SSE.length.toString(16)};ext=1\r\n${SSE}\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n`;
    const r = everySplit(wire);
    expect([r.body, r.ended, r.head!.keepAlive]).toEqual([`${SSE}abc`, true, true]);
  });

  it('a body up to the connection end: complete only when the connection closes, never kept alive', () => {
    const wire = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it';
    expect(parse(wire)).toMatchObject({ body: 'all of it', ended: false });
    const r = everySplit(wire, true);
    expect([r.body, r.ended, r.head!.keepAlive]).toEqual(['all of it', true, false]);
  });

  it('no body for 204, 304 and HEAD; 1xx heads are skipped', () => {
    expect(parse('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n')).toMatchObject({ body: '', ended: true });
    expect(parse('HTTP/1.1 304 Not Modified\r\n\r\n')).toMatchObject({ body: '', ended: true });
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', [], true)).toMatchObject({ body: '', ended: true });
    const r = everySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    expect([r.head!.statusCode, r.body, r.ended]).toEqual([201, 'ok', true]);
  });

  it('Connection: close and HTTP/1.0 are not kept alive (1.0 with keep-alive is)', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').head!.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').head!.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').head!.keepAlive).toBe(true);
  });

  it('an empty reason phrase; bytes past the message are reported as leftover', () => {
    const r = parse('HTTP/1.1 529 \r\nContent-Length: 2\r\n\r\nokEXTRA');
    expect([r.head!.statusCode, r.head!.statusMessage, r.body, r.leftover]).toEqual([529, '', 'ok', true]);
    expect(parse('HTTP/1.1 429\r\nContent-Length: 0\r\n\r\n').head!.statusMessage).toBe('');
  });

  it('malformed input is an error', () => {
    expect(() => parse('HTTX/1.1 200 OK\r\n\r\n')).toThrow(ResponseParseError);
    expect(() => parse('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')).toThrow(ResponseParseError);
    expect(() => parse('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n')).toThrow(ResponseParseError);
    expect(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n')).toThrow(ResponseParseError);
    expect(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX\r\n')).toThrow(ResponseParseError);
  });
});
