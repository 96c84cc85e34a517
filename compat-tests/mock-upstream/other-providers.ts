import { crc32 } from 'node:zlib';
import { estimateInputTokens, pickError, replyPieces, sha256hex } from './anthropic.js';
import { jsonPlan, sleep, write, type MockRequest, type MockSettings, type Plan, type Step } from './plan.js';

/**
 * Deterministic OpenAI (chat completions, responses), Gemini, Bedrock and OAuth token answers.
 * Same idea as the Anthropic mock: ids from sha256 of the body, text from the last user turn,
 * errors injected by `x-mock-error` / `mock-NNN` models / `__MOCK_ERROR_NNN__`.
 */

function openAiPieces(body: any): string[] {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const user = [...msgs].reverse().find((m) => m?.role === 'user');
  let said = '';
  if (typeof user?.content === 'string') said = user.content;
  else if (Array.isArray(user?.content)) said = user.content.map((c: any) => c?.text ?? '').join(' ');
  else if (typeof body?.input === 'string') said = body.input;
  return replyPieces({ messages: [{ role: 'user', content: said }] });
}
const openAiText = (body: any): string => openAiPieces(body).join('');

function openAiError(status: number): Plan {
  const type = status === 429 ? 'rate_limit_exceeded' : status === 401 ? 'invalid_api_key' : 'server_error';
  return jsonPlan(status, { error: { message: `mock: error ${status}`, type, param: null, code: type } });
}

const sseData = (d: unknown): string => `data: ${JSON.stringify(d)}\n\n`;

export function openAiChatPlan(req: MockRequest, s: MockSettings): Plan {
  const err = pickError(req, s);
  if (err && err !== 'stream-error') return openAiError(Number.parseInt(err, 10) || 500);
  const id = 'chatcmpl-mock' + sha256hex(req.raw).slice(0, 24);
  const model = req.body?.model || 'gpt-4o-mini';
  const text = openAiText(req.body);
  const prompt = estimateInputTokens(req.body);
  const usage = { prompt_tokens: prompt, completion_tokens: 11, total_tokens: prompt + 11 };
  const created = 1_764_000_000;
  if (!req.body?.stream) {
    return jsonPlan(200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
      usage,
    });
  }
  const steps: Step[] = [];
  const chunk = (delta: unknown, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  steps.push(write(sseData(chunk({ role: 'assistant', content: '' }, null))));
  for (const p of openAiPieces(req.body)) {
    steps.push(sleep(s.chunkDelayMs), write(sseData(chunk({ content: p }, null))));
  }
  steps.push(write(sseData({ ...chunk({}, 'stop'), usage })), write('data: [DONE]\n\n'));
  return { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, steps };
}

export function openAiResponsesPlan(req: MockRequest, s: MockSettings): Plan {
  const err = pickError(req, s);
  if (err) return openAiError(Number.parseInt(err, 10) || 500);
  const id = 'resp_mock_' + sha256hex(req.raw).slice(0, 24);
  const model = req.body?.model || 'gpt-5';
  const text = openAiText({ messages: [{ role: 'user', content: typeof req.body?.input === 'string' ? req.body.input : '' }] });
  const input = estimateInputTokens(req.body);
  const usage = { input_tokens: input, input_tokens_details: { cached_tokens: 0 }, output_tokens: 11, total_tokens: input + 11 };
  const response = {
    id,
    object: 'response',
    created_at: 1_764_000_000,
    status: 'completed',
    model,
    output: [
      {
        type: 'message',
        id: 'msg_' + id.slice(10),
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text, annotations: [] }],
      },
    ],
    usage,
  };
  if (!req.body?.stream) return jsonPlan(200, response);
  const ev = (type: string, d: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...d })}\n\n`;
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
    steps: [
      write(ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } })),
      sleep(s.chunkDelayMs),
      write(ev('response.output_text.delta', { item_id: response.output[0]!.id, output_index: 0, content_index: 0, delta: text })),
      sleep(s.chunkDelayMs),
      write(ev('response.completed', { response })),
    ],
  };
}

export function geminiPlan(req: MockRequest, s: MockSettings, stream: boolean): Plan {
  const err = pickError(req, s);
  if (err) {
    const status = Number.parseInt(err, 10) || 500;
    return jsonPlan(status, { error: { code: status, message: `mock: error ${status}`, status: status === 429 ? 'RESOURCE_EXHAUSTED' : 'INTERNAL' } });
  }
  const contents: any[] = Array.isArray(req.body?.contents) ? req.body.contents : Array.isArray(req.body?.request?.contents) ? req.body.request.contents : [];
  const lastUser = [...contents].reverse().find((c) => c?.role !== 'model');
  const said = Array.isArray(lastUser?.parts) ? lastUser.parts.map((p: any) => p?.text ?? '').join(' ') : '';
  const text = replyPieces({ messages: [{ role: 'user', content: said }] }).join('');
  const prompt = estimateInputTokens({ messages: contents });
  const usageMetadata = { promptTokenCount: prompt, candidatesTokenCount: 11, totalTokenCount: prompt + 11 };
  const answer = (t: string, done: boolean) => ({
    candidates: [{ content: { parts: [{ text: t }], role: 'model' }, ...(done ? { finishReason: 'STOP' } : {}), index: 0 }],
    ...(done ? { usageMetadata } : {}),
    modelVersion: 'gemini-2.5-flash',
    responseId: 'mock' + sha256hex(req.raw).slice(0, 20),
  });
  if (!stream) return jsonPlan(200, answer(text, true));
  const cut = Math.floor(text.length / 2);
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    steps: [write(`data: ${JSON.stringify(answer(text.slice(0, cut), false))}\r\n\r\n`), sleep(s.chunkDelayMs), write(`data: ${JSON.stringify(answer(text.slice(cut), true))}\r\n\r\n`)],
  };
}

/** One AWS event-stream frame (prelude, string headers, payload, CRCs) as Bedrock streams use. */
export function eventStreamFrame(headers: Record<string, string>, payload: Buffer): Buffer {
  const hb: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length); // string
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    hb.push(h);
  }
  const headerBytes = Buffer.concat(hb);
  const total = 12 + headerBytes.length + payload.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(headerBytes.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude) >>> 0, 0);
  const body = Buffer.concat([prelude, preludeCrc, headerBytes, payload]);
  const msgCrc = Buffer.alloc(4);
  msgCrc.writeUInt32BE(crc32(body) >>> 0, 0);
  return Buffer.concat([body, msgCrc]);
}

/** Bedrock InvokeModel / InvokeModelWithResponseStream with Anthropic-shaped bodies. */
export function bedrockPlan(req: MockRequest, s: MockSettings, stream: boolean, modelId: string): Plan {
  const err = pickError(req, s);
  if (err) {
    const status = Number.parseInt(err, 10) || 500;
    const type = status === 429 ? 'ThrottlingException' : status === 403 ? 'AccessDeniedException' : 'InternalServerException';
    return { ...jsonPlan(status, { message: `mock: ${type}` }), headers: { 'content-type': 'application/json', 'x-amzn-errortype': type } };
  }
  const id = 'msg_bdrk_mock_' + sha256hex(req.raw).slice(0, 20);
  const text = replyPieces(req.body).join('');
  const input = estimateInputTokens(req.body);
  if (!stream) {
    return jsonPlan(200, {
      id,
      type: 'message',
      role: 'assistant',
      model: modelId,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: input, output_tokens: 11 },
    });
  }
  const events: unknown[] = [
    { type: 'message_start', message: { id, type: 'message', role: 'assistant', model: modelId, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: input, output_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 11 } },
    { type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: input, outputTokenCount: 11, invocationLatency: 1, firstByteLatency: 1 } },
  ];
  const steps: Step[] = [];
  for (const e of events) {
    const payload = Buffer.from(JSON.stringify({ bytes: Buffer.from(JSON.stringify(e)).toString('base64') }));
    steps.push(write(eventStreamFrame({ ':event-type': 'chunk', ':content-type': 'application/json', ':message-type': 'event' }, payload)));
  }
  return { status: 200, headers: { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': id }, steps };
}

/** Claude OAuth token endpoint (`POST /v1/oauth/token`, JSON grant_type refresh_token / authorization_code). */
export function oauthTokenPlan(req: MockRequest, s: MockSettings): Plan {
  const err = pickError(req, s);
  const grant = req.body?.grant_type;
  const secret = String(req.body?.refresh_token ?? req.body?.code ?? '');
  if (err || !secret || String(secret).includes('invalid')) {
    return jsonPlan(err ? Number.parseInt(err, 10) || 400 : 400, {
      error: 'invalid_grant',
      error_description: grant === 'refresh_token' ? 'Refresh token not found or invalid' : 'Invalid authorization code',
    });
  }
  const h = sha256hex(`${grant}:${secret}`);
  return jsonPlan(200, {
    token_type: 'Bearer',
    access_token: 'sk-ant-oat01-MOCK-' + h.slice(0, 32),
    expires_in: 28800,
    refresh_token: 'sk-ant-ort01-MOCK-' + h.slice(32, 64),
    scope: 'user:inference user:profile',
    organization: { uuid: '00000000-0000-4000-8000-00000000c0de', name: 'mock org' },
    account: { uuid: '00000000-0000-4000-8000-0000000acc01', email_address: 'mock@example.invalid' },
  });
}
