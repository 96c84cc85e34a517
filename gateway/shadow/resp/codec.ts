/**
 * A small incremental RESP2 codec: enough to sit in the middle of a Redis connection, count
 * replies, find the keys of a command and inject / strip our own commands.
 *
 * Every parsed frame keeps its raw bytes, so a proxy can forward exactly what it received.
 */

export type RespValue =
  | { kind: 'simple'; text: string }
  | { kind: 'error'; text: string }
  | { kind: 'int'; value: number }
  | { kind: 'bulk'; value: Buffer | null }
  | { kind: 'array'; items: RespValue[] | null };

export interface RespFrame {
  value: RespValue;
  raw: Buffer;
}

const CRLF = Buffer.from('\r\n');

/** Thrown for bytes that are not RESP (the connection is closed with a protocol error). */
export class RespProtocolError extends Error {}

/**
 * Feed bytes with push(); take complete frames with next(). Handles frames split across
 * chunks at any byte. `inline` accepts telnet-style inline commands (client side only).
 */
export class RespReader {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(private readonly inline = false) {}

  push(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
      this.pos = 0;
    }
  }

  /** Take every byte not yet returned as a frame (used when switching to a plain pipe). */
  drain(): Buffer {
    const rest = this.buf.subarray(this.pos);
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    return rest;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.buf.length - this.pos;
  }

  next(): RespFrame | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const start = this.pos;
    const end = this.parseAt(start);
    if (end < 0) return undefined;
    const raw = this.buf.subarray(start, end);
    this.pos = end;
    return { value: this.lastValue!, raw };
  }

  private lastValue: RespValue | undefined;

  /** Returns the end offset of the frame at `at`, or -1 when incomplete; sets lastValue. */
  private parseAt(at: number): number {
    const r = parseValue(this.buf, at, this.inline);
    if (!r) return -1;
    this.lastValue = r.value;
    return r.end;
  }
}

function lineEnd(buf: Buffer, from: number): number {
  return buf.indexOf(CRLF, from);
}

function parseValue(buf: Buffer, at: number, inline: boolean): { value: RespValue; end: number } | undefined {
  if (at >= buf.length) return undefined;
  const type = buf[at];
  const eol = lineEnd(buf, at + 1);
  if (type === 0x2a /* * */ || type === 0x24 /* $ */ || type === 0x2b || type === 0x2d || type === 0x3a) {
    if (eol < 0) return undefined;
    const line = buf.toString('latin1', at + 1, eol);
    switch (type) {
      case 0x2b:
        return { value: { kind: 'simple', text: line }, end: eol + 2 };
      case 0x2d:
        return { value: { kind: 'error', text: line }, end: eol + 2 };
      case 0x3a: {
        const n = Number(line);
        if (!Number.isFinite(n)) throw new RespProtocolError(`bad integer ${JSON.stringify(line)}`);
        return { value: { kind: 'int', value: n }, end: eol + 2 };
      }
      case 0x24: {
        const len = Number(line);
        if (!Number.isInteger(len)) throw new RespProtocolError(`bad bulk length ${JSON.stringify(line)}`);
        if (len < 0) return { value: { kind: 'bulk', value: null }, end: eol + 2 };
        const dataStart = eol + 2;
        if (buf.length < dataStart + len + 2) return undefined;
        return { value: { kind: 'bulk', value: buf.subarray(dataStart, dataStart + len) }, end: dataStart + len + 2 };
      }
      default: {
        const count = Number(line);
        if (!Number.isInteger(count)) throw new RespProtocolError(`bad array length ${JSON.stringify(line)}`);
        if (count < 0) return { value: { kind: 'array', items: null }, end: eol + 2 };
        const parsed = parseItems(buf, eol + 2, count);
        if (!parsed) return undefined;
        return { value: { kind: 'array', items: parsed.items }, end: parsed.end };
      }
    }
  }
  const resp3 = parseResp3(buf, at, type);
  if (resp3 !== 'not-resp3') return resp3;
  if (!inline) throw new RespProtocolError(`unexpected byte 0x${(type ?? 0).toString(16)} in RESP stream`);
  // Inline command: words separated by spaces, ended by \n or \r\n.
  const nl = buf.indexOf(0x0a, at);
  if (nl < 0) return undefined;
  const text = buf.toString('utf8', at, nl).replace(/\r$/, '');
  const words = text.split(' ').filter((w) => w.length > 0);
  return {
    value: { kind: 'array', items: words.map((w) => ({ kind: 'bulk', value: Buffer.from(w) })) },
    end: nl + 1,
  };
}

/** The arguments of a command frame (array of bulk strings), or undefined for anything else. */
export function commandArgs(value: RespValue): Buffer[] | undefined {
  if (value.kind !== 'array' || !value.items || value.items.length === 0) return undefined;
  const out: Buffer[] = [];
  for (const item of value.items) {
    if (item.kind === 'bulk' && item.value) out.push(item.value);
    else if (item.kind === 'simple') out.push(Buffer.from(item.text));
    else if (item.kind === 'int') out.push(Buffer.from(String(item.value)));
    else return undefined;
  }
  return out;
}

/** Encode a command as a RESP array of bulk strings. */
export function encodeCommand(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const b = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** Encode a reply value (used to answer a client ourselves, e.g. errors). */
export function encodeValue(value: RespValue): Buffer {
  switch (value.kind) {
    case 'simple':
      return Buffer.from(`+${value.text}\r\n`);
    case 'error':
      return Buffer.from(`-${value.text}\r\n`);
    case 'int':
      return Buffer.from(`:${value.value}\r\n`);
    case 'bulk':
      return value.value === null
        ? Buffer.from('$-1\r\n')
        : Buffer.concat([Buffer.from(`$${value.value.length}\r\n`), value.value, CRLF]);
    case 'array':
      if (value.items === null) return Buffer.from('*-1\r\n');
      return Buffer.concat([Buffer.from(`*${value.items.length}\r\n`), ...value.items.map(encodeValue)]);
  }
}

/** Readable one-line form of a command, for logs and diffs (long arguments shortened). */
export function describeCommand(args: ReadonlyArray<Buffer>, maxArg = 80): string {
  return args
    .map((a) => {
      const s = a.toString('utf8');
      const shown = s.length > maxArg ? `${s.slice(0, maxArg)}…(${a.length} B)` : s;
      return /[\s"]/.test(shown) || shown === '' ? JSON.stringify(shown) : shown;
    })
    .join(' ');
}

/**
 * RESP3 reply types (clients that send HELLO 3; ioredis 6 does by default, ioredis 5 — ours and the legacy's — never). Maps, sets and pushes are kept as
 * arrays (a map as key, value, key, value ...); scalars keep their text.
 */
function parseResp3(
  buf: Buffer,
  at: number,
  type: number | undefined,
): { value: RespValue; end: number } | undefined | 'not-resp3' {
  const ch = type === undefined ? '' : String.fromCharCode(type);
  if (!'%~>|_,#(=!'.includes(ch) || ch === '') return 'not-resp3';
  const eol = lineEnd(buf, at + 1);
  if (eol < 0) return undefined;
  const line = buf.toString('latin1', at + 1, eol);
  switch (ch) {
    case '_':
      return { value: { kind: 'bulk', value: null }, end: eol + 2 };
    case ',':
    case '#':
    case '(':
      return { value: { kind: 'simple', text: line }, end: eol + 2 };
    case '=':
    case '!': {
      const len = Number(line);
      if (!Number.isInteger(len) || len < 0) throw new RespProtocolError(`bad length ${JSON.stringify(line)}`);
      const dataStart = eol + 2;
      if (buf.length < dataStart + len + 2) return undefined;
      const data = buf.subarray(dataStart, dataStart + len);
      const value: RespValue = ch === '!' ? { kind: 'error', text: data.toString('utf8') } : { kind: 'bulk', value: data };
      return { value, end: dataStart + len + 2 };
    }
    default: {
      const n = Number(line);
      if (!Number.isInteger(n) || n < 0) throw new RespProtocolError(`bad aggregate length ${JSON.stringify(line)}`);
      const count = ch === '%' || ch === '|' ? n * 2 : n;
      const parsed = parseItems(buf, eol + 2, count);
      if (!parsed) return undefined;
      // An attribute precedes the real reply: skip it and return the reply that follows.
      if (ch === '|') return parseValue(buf, parsed.end, false);
      return { value: { kind: 'array', items: parsed.items }, end: parsed.end };
    }
  }
}

function parseItems(buf: Buffer, from: number, count: number): { items: RespValue[]; end: number } | undefined {
  let cursor = from;
  const items: RespValue[] = [];
  for (let i = 0; i < count; i++) {
    const item = parseValue(buf, cursor, false);
    if (!item) return undefined;
    items.push(item.value);
    cursor = item.end;
  }
  return { items, end: cursor };
}
