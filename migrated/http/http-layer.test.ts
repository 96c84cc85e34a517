import { afterEach, describe, expect, it } from 'vitest';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { readLegacyBody } from './body.js';
import { sendBodyError } from './errors.js';
import { weakEtag } from './etag.js';
import { defaultHttpSurface, httpSurfaceFromEnv, type HttpSurfaceOptions } from './legacy-surface.js';
import { legacyReply } from './reply.js';
import { sendPreflight } from './preflight.js';

let srv: Server | undefined;
afterEach(() => {
  srv?.closeAllConnections();
  srv?.close();
  srv = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void): Promise<number> {
  srv = createServer({ keepAliveTimeout: 605_000 }, (req, res) => void handler(req, res));
  await new Promise<void>((r) => srv!.listen(0, '127.0.0.1', r));
  return (srv.address() as AddressInfo).port;
}

function call(port: number, method: string, path: string, headers: Record<string, string>, body?: string | Buffer) {
  return new Promise<{ status: number; raw: string[]; body: Buffer }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { connection: 'keep-alive', ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);

describe('weak ETag', () => {
  it('matches express for recorded bodies', () => {
    expect(weakEtag('{"error":"Invalid API key","message":"API key not found"}')).toBe('W/"39-NOsMhuIRXAGC2JvoC2fcMsZ7Clk"');
    expect(weakEtag('')).toBe('W/"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"');
  });
});

describe('envelope headers', () => {
  it('custom CORS (ENABLE_CORS=false), a foreign Origin and no local Host: no ACAO, no COOP/OAC', async () => {
    const surface: HttpSurfaceOptions = httpSurfaceFromEnv({ ENABLE_CORS: 'false' });
    const port = await serve((req, res) => legacyReply(req, res, { requestId: 'abc', surface }).json(200, { ok: true }));
    const r = await call(port, 'GET', '/x', { host: 'relay.example.com', origin: 'https://evil.example' });
    expect(names(r.raw)).toEqual([
      'Cross-Origin-Resource-Policy',
      'Referrer-Policy',
      'Strict-Transport-Security',
      'X-Content-Type-Options',
      'X-DNS-Prefetch-Control',
      'X-Download-Options',
      'X-Frame-Options',
      'X-Permitted-Cross-Domain-Policies',
      'X-XSS-Protection',
      'Access-Control-Allow-Methods',
      'Access-Control-Allow-Headers',
      'Access-Control-Expose-Headers',
      'Access-Control-Max-Age',
      'Access-Control-Allow-Credentials',
      'X-Request-ID',
      'Cache-Control',
      'Pragma',
      'Expires',
      'Content-Type',
      'Content-Length',
      'ETag',
      'Vary',
      'Date',
      'Connection',
      'Keep-Alive',
    ]);
  });

  it('CSP on /web paths; HTTPS via X-Forwarded-Proto adds COOP/OAC', async () => {
    const port = await serve((req, res) => legacyReply(req, res, { requestId: 'abc' }).json(200, {}));
    const r = await call(port, 'GET', '/web/x', { host: 'relay.example.com', 'x-forwarded-proto': 'https' });
    const n = names(r.raw);
    expect(n.indexOf('Content-Security-Policy')).toBe(n.indexOf('Origin-Agent-Cluster') + 1);
    expect(n).toContain('Cross-Origin-Opener-Policy');
  });

  it('304 on a matching If-None-Match for GET; ETag kept, body and Content-Type dropped', async () => {
    const port = await serve((req, res) => legacyReply(req, res, { requestId: 'abc' }).json(200, { a: 1 }));
    const first = await call(port, 'GET', '/x', { host: '127.0.0.1' });
    const etag = first.raw[first.raw.indexOf('ETag') + 1]!;
    const second = await call(port, 'GET', '/x', { host: '127.0.0.1', 'if-none-match': etag });
    expect(second.status).toBe(304);
    expect(second.body.length).toBe(0);
    expect(names(second.raw)).not.toContain('Content-Type');
    expect(names(second.raw)).toContain('ETag');
    const post = await call(port, 'POST', '/x', { host: '127.0.0.1', 'if-none-match': etag });
    expect(post.status).toBe(200);
  });

  it('compresses bodies of 1 KiB or more: br preferred, then gzip; never below the threshold', async () => {
    const big = { data: 'x'.repeat(2000) };
    const port = await serve((req, res) => legacyReply(req, res, { requestId: 'abc' }).json(200, req.url === '/small' ? { a: 1 } : big));
    const br = await call(port, 'GET', '/big', { host: '127.0.0.1', 'accept-encoding': 'gzip, deflate, br' });
    expect(br.raw[br.raw.indexOf('Content-Encoding') + 1]).toBe('br');
    expect(JSON.parse(brotliDecompressSync(br.body).toString())).toEqual(big);
    expect(names(br.raw)).not.toContain('Content-Length');
    const gz = await call(port, 'GET', '/big', { host: '127.0.0.1', 'accept-encoding': 'gzip' });
    expect(JSON.parse(gunzipSync(gz.body).toString())).toEqual(big);
    const small = await call(port, 'GET', '/small', { host: '127.0.0.1', 'accept-encoding': 'gzip' });
    expect(names(small.raw)).not.toContain('Content-Encoding');
    expect(small.raw[small.raw.indexOf('Vary') + 1]).toBe('Accept-Encoding');
  });
});

describe('jsonText', () => {
  it('writes exactly what json() writes for the value the text serialises (head, ETag, 304, compression)', async () => {
    const values: Record<string, unknown> = { '/small': { id: 'msg_1', usage: { input_tokens: 1 }, t: 'caf\u00e9 \u{1f600}' }, '/big': { data: 'y'.repeat(3000) }, '/num': 12.5 };
    const port = await serve((req, res) => {
      const [path, how] = (req.url ?? '').split('?');
      const reply = legacyReply(req, res, { requestId: 'abc' });
      if (how === 'text') reply.jsonText(201, JSON.stringify(values[path!]));
      else reply.json(201, values[path!]);
    });
    const strip = (raw: string[]) => raw.filter((_, i) => raw[i - (i % 2)] !== 'Date');
    for (const path of Object.keys(values))
      for (const headers of [{ host: '127.0.0.1' }, { host: '127.0.0.1', 'accept-encoding': 'gzip, br' }] as Array<Record<string, string>>) {
        const a = await call(port, 'GET', `${path}?json`, headers);
        const b = await call(port, 'GET', `${path}?text`, headers);
        expect([b.status, strip(b.raw), b.body.toString('base64')]).toEqual([a.status, strip(a.raw), a.body.toString('base64')]);
      }
    const first = await call(port, 'GET', '/small?json', { host: '127.0.0.1' });
    const etag = first.raw[first.raw.indexOf('ETag') + 1]!;
    expect((await call(port, 'GET', '/small?text', { host: '127.0.0.1', 'if-none-match': etag })).status).toBe(304);
  });
});

describe('body intake and the global error handler', () => {
  const surface = { ...defaultHttpSurface, requestMaxBytes: 1024 };
  async function bodyServer() {
    return serve(async (req, res) => {
      const r = await readLegacyBody(req, surface);
      if (!r.ok) return sendBodyError(req, res, r, { requestId: 'rid1', surface, nowIso: '2026-11-26T00:00:00.000Z' });
      legacyReply(req, res, { requestId: 'rid1', surface }).json(200, { got: r.body });
    });
  }

  it('parses JSON and forms; other types give {}', async () => {
    const port = await bodyServer();
    const j = await call(port, 'POST', '/', { 'content-type': 'application/json' }, '{"a":[1,2]}');
    expect(JSON.parse(j.body.toString())).toEqual({ got: { a: [1, 2] } });
    const f = await call(port, 'POST', '/', { 'content-type': 'application/x-www-form-urlencoded' }, 'apiKey=cr_1&x=2');
    expect(JSON.parse(f.body.toString())).toEqual({ got: { apiKey: 'cr_1', x: '2' } });
    const t = await call(port, 'POST', '/', { 'content-type': 'text/plain' }, 'hello');
    expect(JSON.parse(t.body.toString())).toEqual({ got: {} });
  });

  it('malformed JSON → 400, strict violation → 400, whitespace-only → 403, all with the error-handler body', async () => {
    const port = await bodyServer();
    const expected = { error: 'Internal Server Error', message: 'Something went wrong', requestId: 'rid1', timestamp: '2026-11-26T00:00:00.000Z' };
    for (const [payload, status] of [
      ['{"a": ', 400],
      ['"just a string"', 400],
      ['   ', 403],
    ] as const) {
      const r = await call(port, 'POST', '/', { 'content-type': 'application/json' }, payload);
      expect(r.status).toBe(status);
      expect(JSON.parse(r.body.toString())).toEqual(expected);
      expect(r.raw[r.raw.indexOf('X-Frame-Options') + 1]).toBe('SAMEORIGIN');
      expect(names(r.raw)).not.toContain('Cache-Control');
    }
    const timeoutWord = await call(port, 'POST', '/', { 'content-type': 'application/json' }, '{timeout}');
    expect(JSON.parse(timeoutWord.body.toString()).message).toBe('Something went wrong');
  });

  it('Content-Length over REQUEST_MAX_SIZE_MB → 413 pre-check body without X-Request-ID', async () => {
    const port = await bodyServer();
    const r = await call(port, 'POST', '/', { 'content-type': 'application/json' }, `{"a":"${'x'.repeat(2000)}"}`);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body.toString())).toEqual({ error: 'Payload Too Large', message: 'Request body size exceeds limit', limit: '10MB' });
    expect(names(r.raw)).not.toContain('X-Request-ID');
  });
});

describe('OPTIONS preflight (as answered by the running legacy)', () => {
  it('cors() defaults: 204, helmet values, wildcard origin, methods, Vary, echoed headers, Content-Length 0', async () => {
    const port = await serve((req, res) => sendPreflight(req, res, defaultHttpSurface));
    const r = await call(port, 'OPTIONS', '/api/v1/messages', { origin: 'http://x.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' });
    expect(r.status).toBe(204);
    const lines: string[] = [];
    for (let i = 0; i < r.raw.length; i += 2) lines.push(`${r.raw[i]}: ${r.raw[i + 1]}`);
    expect(lines.filter((l) => !l.startsWith('Date: '))).toEqual([
      'Cross-Origin-Resource-Policy: same-origin',
      'Referrer-Policy: no-referrer',
      'Strict-Transport-Security: max-age=15552000; includeSubDomains',
      'X-Content-Type-Options: nosniff',
      'X-DNS-Prefetch-Control: off',
      'X-Download-Options: noopen',
      'X-Frame-Options: SAMEORIGIN',
      'X-Permitted-Cross-Domain-Policies: none',
      'X-XSS-Protection: 0',
      'Access-Control-Allow-Origin: *',
      'Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE',
      'Vary: Access-Control-Request-Headers',
      'Access-Control-Allow-Headers: content-type,x-api-key',
      'Content-Length: 0',
      'Connection: keep-alive',
      'Keep-Alive: timeout=605',
    ]);
  });
});
