import { describe, expect, it } from 'vitest';
import { RespProtocolError, RespReader, commandArgs, encodeCommand, encodeValue, type RespValue } from './codec.js';

const replies = Buffer.from(
  [
    '+OK\r\n',
    '-ERR wrong\r\n',
    ':42\r\n',
    '$5\r\nhe\r\nl\r\n',
    '$-1\r\n',
    '*3\r\n$1\r\na\r\n:1\r\n*-1\r\n',
    '%1\r\n$1\r\nk\r\n,1.5\r\n', // RESP3 map
    '_\r\n', // RESP3 null
    '|1\r\n+ttl\r\n:3\r\n#t\r\n', // attribute, then the real reply
  ].join(''),
);

function all(reader: RespReader): RespValue[] {
  const out: RespValue[] = [];
  for (let f = reader.next(); f; f = reader.next()) out.push(f.value);
  return out;
}

describe('RESP codec', () => {
  it('parses the same frames whatever the chunking, keeping exact raw bytes', () => {
    const whole = new RespReader();
    whole.push(replies);
    const frames: Buffer[] = [];
    for (let f = whole.next(); f; f = whole.next()) frames.push(Buffer.from(f.raw));
    expect(frames).toHaveLength(9);
    expect(Buffer.concat(frames).equals(replies)).toBe(true);
    whole.push(replies);
    const expected = all(whole);
    for (let cut = 1; cut < replies.length; cut++) {
      const r = new RespReader();
      r.push(replies.subarray(0, cut));
      const got = all(r);
      r.push(replies.subarray(cut));
      got.push(...all(r));
      expect(got).toEqual(expected);
    }
    expect(expected[3]).toEqual({ kind: 'bulk', value: Buffer.from('he\r\nl') });
    expect(expected[8]).toEqual({ kind: 'simple', text: 't' });
  });

  it('reads commands, inline commands included, and re-encodes them', () => {
    const r = new RespReader(true);
    r.push(Buffer.concat([encodeCommand(['HSET', 'k', 'f', Buffer.from([0, 255])]), Buffer.from('PING hello\r\n')]));
    const a = commandArgs(r.next()!.value)!;
    expect(a.map((x) => x.toString('latin1'))).toEqual(['HSET', 'k', 'f', '\u0000\u00ff']);
    expect(commandArgs(r.next()!.value)!.map(String)).toEqual(['PING', 'hello']);
    const v: RespValue = { kind: 'array', items: [{ kind: 'int', value: 1 }, { kind: 'bulk', value: null }, { kind: 'error', text: 'E x' }] };
    const back = new RespReader();
    back.push(encodeValue(v));
    expect(back.next()!.value).toEqual(v);
  });

  it('rejects bytes that are not RESP', () => {
    const r = new RespReader();
    r.push(Buffer.from('hello\r\n'));
    expect(() => r.next()).toThrow(RespProtocolError);
  });
});
