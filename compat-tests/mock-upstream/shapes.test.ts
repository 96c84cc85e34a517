import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeBytes } from '../engine/format/bytes.js';
import { planFromRecorded } from './replay-book.js';
import { startMockUpstream, type MockUpstream } from './server.js';

/** The non-Anthropic shapes, error injection, request+answer recording and replay mode. */
describe('mock upstream shapes', () => {
  let mock: MockUpstream;
  beforeAll(async () => {
    mock = await startMockUpstream({ settings: { chunkDelayMs: 0 } });
  });
  afterAll(async () => {
    await mock.close();
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- test reads answers loosely
  const json = async (r: Response | Promise<Response>): Promise<any> => (await r).json();
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(mock.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('OpenAI chat completions: JSON and SSE ending in [DONE], deterministic', async () => {
    const body = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi there' }] };
    const a = await json(post('/v1/chat/completions', body));
    const b = await json(post('/v1/chat/completions', body));
    expect(a).toEqual(b);
    expect(a.choices[0].message.content).toBe('Hello from the mock upstream. You said: "hi there".');
    const sse = await (await post('/v1/chat/completions', { ...body, stream: true })).text();
    expect(sse.endsWith('data: [DONE]\n\n')).toBe(true);
    const text = sse.split('\n\n').filter((e: string) => e.startsWith('data: {')).map((e: string) => JSON.parse(e.slice(6)).choices[0].delta.content ?? '').join('');
    expect(text).toBe(a.choices[0].message.content);
  });

  it('OpenAI responses, Gemini and Bedrock answers carry the reply', async () => {
    const r = await json(post('/v1/responses', { model: 'gpt-5', input: 'yo' }));
    expect(r.output[0].content[0].text).toContain('You said: "yo"');
    const g = await json(post('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [{ role: 'user', parts: [{ text: 'gem' }] }] }));
    expect(g.candidates[0].content.parts[0].text).toContain('You said: "gem"');
    const b = await json(post('/model/anthropic.claude-3/invoke', { messages: [{ role: 'user', content: 'bed' }] }));
    expect(b).toMatchObject({ type: 'message', model: 'anthropic.claude-3', content: [{ type: 'text' }] });
    const s = Buffer.from(await (await post('/model/anthropic.claude-3/invoke-with-response-stream', { messages: [{ role: 'user', content: 'bed' }] })).arrayBuffer());
    // event-stream frames: total length prefix of the first frame fits the buffer, 6 frames in all
    let at = 0;
    let frames = 0;
    while (at < s.length) {
      at += s.readUInt32BE(at);
      frames++;
    }
    expect(at).toBe(s.length);
    expect(frames).toBe(6);
  });

  it('OAuth token endpoint refreshes deterministically and rejects an invalid token', async () => {
    const ok = await post('/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'c' });
    const j = await json(ok);
    expect(ok.status).toBe(200);
    expect(j).toMatchObject({ token_type: 'Bearer', expires_in: 28800 });
    expect(j.access_token).toMatch(/^sk-ant-oat01-MOCK-[0-9a-f]{32}$/);
    const again = await json(post('/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'c' }));
    expect(again.access_token).toBe(j.access_token);
    const bad = await post('/v1/oauth/token', { grant_type: 'refresh_token', refresh_token: 'invalid-1' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toBe('invalid_grant');
  });

  it('injects errors by header, model and body text; records requests with their answers', async () => {
    mock.reset();
    expect((await post('/v1/chat/completions', { messages: [] }, { 'x-mock-error': '429' })).status).toBe(429);
    expect((await post('/model/x/invoke', { model: 'mock-500' })).status).toBe(500);
    expect((await post('/v1/oauth/token', { refresh_token: '__MOCK_ERROR_401__' })).status).toBe(401);
    const log = mock.requests();
    expect(log.map((r) => r.response.status)).toEqual([429, 500, 401]);
    expect(Buffer.from(log[0]!.response.bodyBase64, 'base64').toString()).toContain('rate_limit_exceeded');
  });

  /** POST through node:http (no keep-alive pool): the answer's raw header list as received, in wire order. */
  const rawPost = (path: string, body: string) =>
    new Promise<{ status: number; rawHeaders: string[]; body: Buffer }>((resolve, reject) => {
      const req = request(`${mock.url}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('logs the answer headers it actually sent, in wire order (JSON, SSE, error, Bedrock error type); a logged answer replays with them', async () => {
    mock.reset();
    const cases = [
      ['/v1/messages', JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })],
      ['/v1/messages', JSON.stringify({ model: 'claude-sonnet-4-5', stream: true, messages: [{ role: 'user', content: 'hi' }] })],
      ['/v1/messages', JSON.stringify({ model: 'mock-429', messages: [{ role: 'user', content: 'hi' }] })],
      ['/model/x/invoke', JSON.stringify({ messages: [{ role: 'user', content: '__MOCK_ERROR_403__' }] })],
    ] as const;
    const got: Array<Awaited<ReturnType<typeof rawPost>>> = [];
    for (const [path, body] of cases) got.push(await rawPost(path, body));
    const log = mock.requests();
    expect(log).toHaveLength(cases.length);
    log.forEach((entry, i) => {
      expect(entry.response.status).toBe(got[i]!.status);
      expect(entry.response.rawHeaders).toEqual(got[i]!.rawHeaders);
    });
    const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names(log[0]!.response.rawHeaders)).toEqual(expect.arrayContaining(['content-type', 'content-length', 'date', 'connection']));
    expect(names(log[1]!.response.rawHeaders)).toContain('transfer-encoding');
    expect(log[2]!.response.status).toBe(429);
    expect(names(log[3]!.response.rawHeaders)).toContain('x-amzn-errortype');
    // replaying a logged answer: its own headers, minus the hop-by-hop lines Node writes again
    const plan = planFromRecorded({ method: 'POST', url: '/model/x/invoke', host: null, via: 'http', rawHeaders: [], body: encodeBytes(cases[3][1]), response: { status: log[3]!.response.status, rawHeaders: log[3]!.response.rawHeaders, body: encodeBytes(Buffer.from(log[3]!.response.bodyBase64, 'base64')) } })!;
    expect(Object.keys(plan.headers).map((n) => n.toLowerCase())).toEqual(names(log[3]!.response.rawHeaders).filter((n) => !['date', 'connection', 'keep-alive', 'transfer-encoding'].includes(n)));
  });

  it('replay mode serves recorded answers with their chunk boundaries, then falls back to generating', async () => {
    const recordedBody = 'event: a\ndata: 1\n\nevent: b\ndata: 2\n\n';
    mock.setReplay([
      {
        method: 'POST',
        url: '/v1/messages?beta=true',
        host: 'api.anthropic.com',
        via: 'http',
        rawHeaders: [],
        body: encodeBytes('{"x":1}'),
        response: { status: 201, rawHeaders: ['content-type', 'text/event-stream', 'x-recorded', 'yes'], body: encodeBytes(recordedBody), chunks: [{ tMs: 1, bytes: 18 }, { tMs: 2, bytes: 18 }] },
      },
    ]);
    const r = await fetch(mock.url + '/v1/messages?beta=true', { method: 'POST', body: '{"x":1}' });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-recorded')).toBe('yes');
    expect(await r.text()).toBe(recordedBody);
    expect(mock.requests().at(-1)!.replayed).toBe(true);
    expect(mock.requests().at(-1)!.response.chunks.map((c) => c.bytes)).toEqual([18, 18]);
    const gen = await fetch(mock.url + '/v1/messages?beta=true', { method: 'POST', body: '{"x":1}' });
    expect(gen.status).toBe(200);
    expect(mock.requests().at(-1)!.replayed).toBe(false);
  });
});
