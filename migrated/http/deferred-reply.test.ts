import { describe, expect, it } from 'vitest';
import { deferredReply } from './deferred-reply.js';
import { HeaderList } from './header-list.js';
import type { LegacyReply } from './reply.js';

function fakeReply(log: string[]): LegacyReply {
  const headers = new HeaderList();
  headers.set('X-Request-ID', 'rid');
  return {
    requestId: 'rid',
    headers,
    json: (status, body) => void log.push(`json ${status} ${JSON.stringify(body)}`),
    jsonText: (status, text) => void log.push(`jsonText ${status} ${text}`),
    send: (status, body, type) => void log.push(`send ${status} ${String(body)} ${type}`),
    writeHead: (status, extra) => {
      log.push(`head ${status}`);
      if (extra) headers.merge(extra);
      return headers.toFlat();
    },
  };
}

describe('deferred reply', () => {
  it('made on first use or build(), once; then behaves as the reply it made', () => {
    const log: string[] = [];
    let made = 0;
    const reply = deferredReply(() => {
      made++;
      return fakeReply(log);
    });
    expect(made).toBe(0);
    reply.build();
    reply.build();
    expect(made).toBe(1);
    reply.headers.set('Content-Type', 'text/event-stream');
    expect(reply.requestId).toBe('rid');
    expect(reply.writeHead(200, [['X-Extra', '1']])).toEqual(['X-Request-ID', 'rid', 'Content-Type', 'text/event-stream', 'X-Extra', '1']);
    reply.json(400, { error: 'x' });
    reply.send(200, 'ok', 'text/plain');
    reply.jsonText(201, '{"a":1}');
    expect(log).toEqual(['head 200', 'json 400 {"error":"x"}', 'send 200 ok text/plain', 'jsonText 201 {"a":1}']);
    expect(made).toBe(1);
  });

  it('first use without build() makes it then', () => {
    let made = 0;
    const reply = deferredReply(() => {
      made++;
      return fakeReply([]);
    });
    expect(reply.headers.get('X-Request-ID')).toBe('rid');
    expect(made).toBe(1);
  });

  it('keeps its accessors on the prototype: no hidden class of its own per reply (see gc-promotion.test.ts)', () => {
    const a = deferredReply(() => fakeReply([]));
    const b = deferredReply(() => fakeReply([]));
    expect(Object.getOwnPropertyDescriptor(a, 'requestId')).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(a, 'headers')).toBeUndefined();
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b));
    const build = a.build;
    build(); // passed around unbound (setImmediate(reply.build))
    expect(a.requestId).toBe('rid');
  });
});
