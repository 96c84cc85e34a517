import { describe, expect, it } from 'vitest';
import { parseDataLine, SseLineFramer } from './sse-framer.js';
import { traceResponseBody } from './trace-fixtures.test-helper.js';

function run(chunks: Buffer[]): { writes: Buffer[]; lines: string[] } {
  const f = new SseLineFramer();
  const writes: Buffer[] = [];
  const lines: string[] = [];
  for (const c of chunks) {
    const r = f.push(c);
    if (r.out) writes.push(r.out);
    lines.push(...r.lines);
  }
  const e = f.end();
  if (e.out) writes.push(e.out);
  lines.push(...e.lines);
  return { writes, lines };
}

describe('SSE line framing', () => {
  it('reproduces the recorded stream bytes for any upstream chunking', () => {
    for (const name of ['06-messages-stream-oauth', '08-messages-stream-console', '22-stream-midstream-error-console']) {
      const body = traceResponseBody(name);
      for (const size of [1, 7, 64, 1000, body.length]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < body.length; i += size) chunks.push(body.subarray(i, i + size));
        expect(Buffer.concat(run(chunks).writes).equals(body)).toBe(true);
      }
    }
  });

  it('writes only complete lines per chunk and keeps the partial tail', () => {
    const { writes } = run([Buffer.from('event: a\ndata: {"x"'), Buffer.from(':1}\n\nevent'), Buffer.from(': b\n')]);
    expect(writes.map(String)).toEqual(['event: a\n', 'data: {"x":1}\n\n', 'event: b\n']);
  });

  it('drops a whitespace-only final fragment but flushes a non-empty one', () => {
    expect(run([Buffer.from('data: 1\n  ')]).writes.map(String)).toEqual(['data: 1\n']);
    expect(run([Buffer.from('data: 1\ndata: 2')]).writes.map(String)).toEqual(['data: 1\n', 'data: 2']);
  });

  it('accepted deviation: a multi-byte character split across upstream chunks is never corrupted', () => {
    const text = Buffer.from('data: {"text":"你好🙂"}\n\n');
    const cut = text.indexOf(Buffer.from('好')) + 1; // inside the 3-byte sequence
    const { writes, lines } = run([text.subarray(0, cut), text.subarray(cut)]);
    expect(Buffer.concat(writes).equals(text)).toBe(true);
    expect(Buffer.concat(writes).toString('utf8')).not.toContain('\uFFFD');
    expect(parseDataLine(lines[0]!)).toEqual({ text: '你好🙂' });
  });

  it('parses data lines like the legacy (optional spaces, [DONE] and garbage ignored)', () => {
    expect(parseDataLine('data:{"a":1}')).toEqual({ a: 1 });
    expect(parseDataLine('data:   {"a":1}')).toEqual({ a: 1 });
    expect(parseDataLine('data: [DONE]')).toBeUndefined();
    expect(parseDataLine('data: {oops')).toBeUndefined();
    expect(parseDataLine('event: x')).toBeUndefined();
  });
});
