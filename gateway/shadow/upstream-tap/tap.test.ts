import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../../../test-support/paths.js';
import { startCountingUpstream, type CountingUpstream } from '../testing/counting-upstream.js';
import { NOT_AVAILABLE_BODY, UpstreamTap } from './tap.js';

async function post(url: string, body: string): Promise<{ status: number; text: string; chunks: number }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  let chunks = 0;
  let text = '';
  const decoder = new TextDecoder();
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks++;
    text += decoder.decode(c, { stream: true });
  }
  return { status: res.status, text, chunks };
}

describe('upstream tap', () => {
  let upstream: CountingUpstream;
  let tap: UpstreamTap;
  beforeAll(async () => {
    upstream = await startCountingUpstream();
    tap = await new UpstreamTap({ target: upstream.url }).start();
  });
  afterAll(async () => {
    await tap.close();
    await upstream.close();
  });

  it('forwards the primary, replays the candidate from the recording, pays the upstream once', async () => {
    const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const t0 = Date.now();
    const primary = await post(`${tap.primaryUrl}/v1/messages?beta=true`, body);
    const log = tap.beginCandidateRun({ fromMs: t0, toMs: Date.now() });
    // same JSON, different key order: still the same request
    const reordered = JSON.stringify({ messages: [{ content: 'hi', role: 'user' }], stream: true, model: 'm' });
    const candidate = await post(`${tap.candidateUrl}/v1/messages?beta=true`, reordered);
    expect(candidate.status).toBe(200);
    expect(candidate.text).toBe(primary.text);
    expect(primary.text).toContain('message_stop');
    expect(log.calls.map((c) => c.outcome)).toEqual(['replayed']);
    expect(upstream.calls).toHaveLength(1);
  });

  it('serves a differing body by correlation within the window, and says so', async () => {
    const t0 = Date.now();
    await post(`${tap.primaryUrl}/v1/messages`, JSON.stringify({ model: 'm', messages: [1, 2] }));
    const log = tap.beginCandidateRun({ fromMs: t0, toMs: Date.now() });
    const candidate = await post(`${tap.candidateUrl}/v1/messages`, JSON.stringify({ model: 'other', messages: [1, 2] }));
    expect(candidate.text).toContain('msg_2');
    expect(log.calls[0]?.outcome).toBe('replayed-by-correlation');
    expect(log.calls[0]?.primaryRequest?.body.toString()).toContain('"m"');
    expect(upstream.calls).toHaveLength(2);
  });

  it('tells a candidate that asked for Connection: close to close, whatever the recording said', async () => {
    const body = JSON.stringify({ model: 'm', messages: ['close'] });
    const t0 = Date.now();
    await post(`${tap.primaryUrl}/v1/messages`, body);
    tap.beginCandidateRun({ fromMs: t0, toMs: Date.now() });
    const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      const r = request(`${tap.candidateUrl}/v1/messages`, { method: 'POST', headers: { connection: 'close', 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.headers));
      });
      r.on('error', reject);
      r.end(body);
    });
    expect(headers.connection).toBe('close');
  });

  it('answers "not available in shadow" when the primary made no such call', async () => {
    const log = tap.beginCandidateRun({ fromMs: Date.now(), toMs: Date.now() });
    const candidate = await post(`${tap.candidateUrl}/v1/messages/count_tokens`, '{}');
    expect(candidate.status).toBe(502);
    expect(candidate.text).toBe(NOT_AVAILABLE_BODY);
    expect(log.calls[0]?.outcome).toBe('not-available');
    expect(upstream.calls).toHaveLength(3);
  });
});

/** One HTTPS request through an HTTP CONNECT proxy, read to the end (Connection: close). */
function viaConnect(proxyPort: number, ca: Buffer, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: 'api.anthropic.com:443' });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return reject(new Error(`CONNECT ${res.statusCode}`));
      const tls = tlsConnect({ socket, servername: 'api.anthropic.com', ca }, () => {
        tls.write(
          `POST /v1/messages?beta=true HTTP/1.1\r\nHost: api.anthropic.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let text = '';
      tls.setEncoding('utf8');
      tls.on('data', (d: string) => (text += d));
      tls.on('end', () => resolve(text));
      tls.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('upstream tap as a TLS-terminating CONNECT proxy (official accounts)', () => {
  const certs = join(sharedDir, 'lab', 'certs');
  let upstream: CountingUpstream;
  let tap: UpstreamTap;
  beforeAll(async () => {
    upstream = await startCountingUpstream();
    tap = await new UpstreamTap({
      target: upstream.url,
      connectTarget: upstream.url,
      tls: { cert: readFileSync(join(certs, 'leaf.pem')), key: readFileSync(join(certs, 'leaf.key')) },
    }).start();
  });
  afterAll(async () => {
    await tap.close();
    await upstream.close();
  });

  it('records the tunnelled call and replays it to the candidate', async () => {
    const body = JSON.stringify({ model: 'm', messages: [1, 2, 3] });
    const t0 = Date.now();
    const raw = await viaConnect(tap.primaryPort, readFileSync(join(certs, 'ca.pem')), body);
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(raw).toContain('"id":"msg_3"');
    expect(tap.tunnelsOpened).toBe(1);
    expect(upstream.calls).toEqual([{ method: 'POST', url: '/v1/messages?beta=true', body }]);
    const log = tap.beginCandidateRun({ fromMs: t0, toMs: Date.now() });
    const candidate = await post(`${tap.candidateUrl}/v1/messages?beta=true`, body);
    expect(candidate.text).toContain('"id":"msg_3"');
    expect(log.calls[0]?.outcome).toBe('replayed');
    expect(upstream.calls).toHaveLength(1);
  });
});
