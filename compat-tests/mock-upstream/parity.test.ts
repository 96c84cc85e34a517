import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test-support/free-port.js';
import { sharedDir } from '../../test-support/paths.js';
import { decodeBytes } from '../engine/format/bytes.js';
import { readSuite } from '../engine/format/suite-store.js';
import { startMockUpstream, type MockUpstream } from './server.js';

/** Our mock must answer exactly like ../shared/lab/mock-upstream.mjs: run both, send the same bytes. */
const labDir = join(sharedDir, 'lab');
const suiteDir = join(import.meta.dirname, '..', 'suites', 'legacy-shared');

interface Answer {
  status: number;
  headers: string[];
  body: Buffer;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.rawHeaders, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Reset headers come from each mock's own clock: equal within 2 s; Date is the server's. */
function comparable(h: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!.toLowerCase();
    if (name === 'date') continue;
    const value = /ratelimit-unified.*reset/.test(name) ? String(Math.floor(Number(h[i + 1]) / 10)) : h[i + 1]!;
    out.push(name, value);
  }
  return out;
}

describe.runIf(existsSync(join(labDir, 'mock-upstream.mjs')))('mock upstream parity with the lab mock', () => {
  let lab: ChildProcess;
  let labPort: number;
  let ours: MockUpstream;

  beforeAll(async () => {
    labPort = await freePort();
    const proxyPort = await freePort();
    lab = spawn(process.execPath, ['mock-upstream.mjs'], {
      cwd: labDir,
      env: { ...process.env, MOCK_PORT: String(labPort), MOCK_PROXY_PORT: String(proxyPort), MOCK_CHUNK_DELAY_MS: '0', MOCK_SPLIT_DELAY_MS: '0' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve) => lab.stdout!.on('data', (d: Buffer) => d.toString().includes('http  listening') && resolve()));
    ours = await startMockUpstream({ settings: { chunkDelayMs: 0, splitDelayMs: 0 } });
  });
  afterAll(async () => {
    lab?.kill('SIGKILL');
    await ours?.close();
  });

  const extra: Array<[string, string, Record<string, string>, string]> = [
    ['POST', '/v1/messages', { 'content-type': 'application/json' }, '{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"a  b"},{"type":"text","text":"c"}]}]}'],
    ['POST', '/v1/messages', { 'x-mock-split-utf8': '1' }, '{"model":"m","messages":[{"role":"user","content":"split"}],"stream":true}'],
    ['POST', '/v1/messages', { 'x-mock-split-utf8': '1' }, '{"model":"m","messages":[{"role":"user","content":"split"}]}'],
    ['POST', '/v1/messages', {}, '{"model":"mock-tool-use","stream":true,"messages":[{"role":"user","content":"t"}],"tools":[{"name":"a","input_schema":{"properties":{"s":{"type":"string"},"n":{"type":"integer"},"b":{"type":"boolean"},"l":{"type":"array"},"o":{"type":"object"}}}},{"name":"b"}],"tool_choice":{"type":"tool","name":"b"}}'],
    ['POST', '/v1/messages', {}, '{"model":"mock-tool-use","messages":[{"role":"user","content":"t"}],"tools":[{"name":"a","input_schema":{"properties":{"s":{"type":"string"}}}}]}'],
    ['POST', '/v1/messages', { 'x-mock-error': '403' }, '{}'],
    ['POST', '/v1/messages', {}, '{"model":"claude-mock-429","messages":[]}'],
    ['POST', '/v1/messages', {}, '{"model":"m","messages":[{"role":"user","content":"__MOCK_ERROR_400__"}]}'],
    ['POST', '/v1/messages', {}, 'not json'],
    ['POST', '/v1/messages/count_tokens', {}, '{"messages":[{"role":"user","content":"count me"}],"system":"s"}'],
    ['POST', '/v1/messages/count_tokens', { 'x-mock-error': '529' }, '{}'],
    ['GET', '/v1/models', {}, ''],
    ['GET', '/nope', {}, ''],
  ];

  it('answers the extra cases identically (status, headers in order, body bytes)', async () => {
    for (const [method, path, headers, body] of extra) {
      const a = await send(labPort, method, path, headers, Buffer.from(body));
      const b = await send(ours.port, method, path, headers, Buffer.from(body));
      expect({ path, status: b.status, headers: comparable(b.headers) }).toEqual({ path, status: a.status, headers: comparable(a.headers) });
      expect(b.body.equals(a.body), `${method} ${path} ${body}: ${b.body} vs ${a.body}`).toBe(true);
    }
  });

  it.runIf(existsSync(join(suiteDir, 'suite.json')))('answers every upstream request of the 47 shared exchanges identically', async () => {
    const suite = readSuite(suiteDir);
    let n = 0;
    for (const ex of suite.exchanges) {
      for (const u of ex.upstream) {
        const headers: Record<string, string> = {};
        for (let i = 0; i + 1 < u.rawHeaders.length; i += 2) {
          const k = u.rawHeaders[i]!.toLowerCase();
          if (k !== 'content-length' && k !== 'connection' && k !== 'host') headers[k] = u.rawHeaders[i + 1]!;
        }
        const body = decodeBytes(u.body);
        const a = await send(labPort, u.method, u.url, headers, body);
        const b = await send(ours.port, u.method, u.url, headers, body);
        expect(a.status).toBe(u.response.status);
        expect(b.status).toBe(a.status);
        expect(comparable(b.headers)).toEqual(comparable(a.headers));
        expect(b.body.equals(a.body)).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(20);
  });
});
