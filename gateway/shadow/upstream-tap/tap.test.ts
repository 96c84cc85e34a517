import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('answers "not available in shadow" when the primary made no such call', async () => {
    const log = tap.beginCandidateRun({ fromMs: Date.now(), toMs: Date.now() });
    const candidate = await post(`${tap.candidateUrl}/v1/messages/count_tokens`, '{}');
    expect(candidate.status).toBe(502);
    expect(candidate.text).toBe(NOT_AVAILABLE_BODY);
    expect(log.calls[0]?.outcome).toBe('not-available');
    expect(upstream.calls).toHaveLength(2);
  });
});
