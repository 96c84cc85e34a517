import { createHash } from 'node:crypto';
import { header, jsonPlan, sleep, write, type MockRequest, type MockSettings, type Plan, type Step } from './plan.js';

/**
 * Anthropic Messages API answers, byte for byte those of ../shared/lab/mock-upstream.mjs for the
 * same request (ids from sha256 of the body, deterministic token estimates, same error
 * injection, same SSE framing and JSON key order). Written from its documented behaviour.
 */

export const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');

function lastUserText(body: any): string {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i];
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      const texts = m.content.filter((c: any) => c?.type === 'text').map((c: any) => c.text);
      if (texts.length) return texts.join(' ');
    }
  }
  return '';
}

export function estimateInputTokens(body: any): number {
  const s = JSON.stringify({ s: body?.system ?? null, m: body?.messages ?? [], t: body?.tools ?? null });
  return Math.max(1, Math.ceil(s.length / 4));
}

export function replyPieces(body: any): string[] {
  const said = lastUserText(body).replace(/\s+/g, ' ').trim().slice(0, 60);
  return ['Hello', ' from', ' the', ' mock', ' upstream.', ' You said: "', said, '".'];
}

function usageFor(body: any, outputTokens: number) {
  return {
    input_tokens: estimateInputTokens(body),
    cache_creation_input_tokens: 12,
    cache_read_input_tokens: 34,
    cache_creation: { ephemeral_5m_input_tokens: 12, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

/** Which error to inject: forced, `x-mock-error` header, `mock-NNN` in the model, `__MOCK_ERROR_NNN__` in the body. */
export function pickError(req: MockRequest, s: MockSettings): string | null {
  if (s.forceError) return String(s.forceError);
  const h = header(req, 'x-mock-error');
  if (h) return String(h);
  const m = String(req.body?.model || '').match(/mock-(429|500|529|401|403|400|stream-error)/);
  if (m) return m[1]!;
  const t = req.raw.match(/__MOCK_ERROR_(429|500|529|401|403|400)__/);
  return t ? t[1]! : null;
}

const ERRORS: Record<number, [string, string]> = {
  400: ['invalid_request_error', 'mock: invalid request'],
  401: ['authentication_error', 'invalid x-api-key'],
  403: ['permission_error', 'mock: permission denied'],
  429: ['rate_limit_error', "This request would exceed your account's rate limit. Please try again later."],
  500: ['api_error', 'Internal server error'],
  529: ['overloaded_error', 'Overloaded'],
};

export const mockRequestId = (raw: string): string => 'req_mock_' + sha256hex(raw).slice(0, 24);

function commonHeaders(reqId: string): Record<string, string> {
  return {
    'request-id': reqId,
    'anthropic-organization-id': '00000000-0000-4000-8000-00000000c0de',
    via: '1.1 mock-upstream',
  };
}

export function errorPlan(code: string, reqId: string, s: MockSettings): Plan {
  const status = Number.parseInt(code, 10);
  const [type, message] = ERRORS[status] ?? ERRORS[500]!;
  const payload = JSON.stringify({ type: 'error', error: { type, message }, request_id: reqId });
  const headers: Record<string, string | number> = {
    ...commonHeaders(reqId),
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    'x-should-retry': status >= 500 || status === 429 ? 'true' : 'false',
  };
  if (status === 429) {
    const reset = Math.floor(s.nowMs() / 1000) + s.rateLimitResetSec;
    headers['retry-after'] = '30';
    headers['anthropic-ratelimit-unified-status'] = 'rejected';
    headers['anthropic-ratelimit-unified-reset'] = String(reset);
    headers['anthropic-ratelimit-unified-5h-status'] = 'rejected';
    headers['anthropic-ratelimit-unified-5h-reset'] = String(reset);
  }
  // NaN status (e.g. "overloaded-stream") falls back like the lab mock: 500 body, status as parsed
  return { status: Number.isNaN(status) ? 500 : status, headers, steps: [write(payload)] };
}

const SPLIT_PIECES = [' 你好，世界', ' 🙂👍'];

function truthyHeader(v: string | undefined): boolean {
  return !!v && v !== '0' && v !== 'false';
}
function wantsSplitUtf8(req: MockRequest): boolean {
  if (truthyHeader(header(req, 'x-mock-split-utf8'))) return true;
  if (String(req.body?.model || '').includes('mock-split-utf8')) return true;
  return req.raw.includes('__MOCK_SPLIT_UTF8__');
}
function wantsToolUse(req: MockRequest): boolean {
  if (!Array.isArray(req.body?.tools) || req.body.tools.length === 0) return false;
  if (truthyHeader(header(req, 'x-mock-tool-use'))) return true;
  if (String(req.body?.model || '').includes('mock-tool-use')) return true;
  return req.raw.includes('__MOCK_TOOL_USE__');
}
function toolUseBlock(req: MockRequest) {
  const body = req.body;
  const tc = body?.tool_choice;
  let tool = body.tools[0];
  if (tc && tc.type === 'tool' && tc.name) tool = body.tools.find((t: any) => t?.name === tc.name) || tool;
  const props: Record<string, any> = tool?.input_schema?.properties || {};
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    const t = Array.isArray(v?.type) ? v.type[0] : v?.type;
    input[k] =
      t === 'number' || t === 'integer' ? 42 : t === 'boolean' ? true : t === 'array' ? [] : t === 'object' ? {} : `mock 值 ${k}`;
  }
  return { type: 'tool_use', id: 'toolu_mock_' + sha256hex('tool:' + req.raw).slice(0, 20), name: String(tool?.name || 'tool'), input };
}

/** Two writes split `intoChar` bytes into the first occurrence of `ch` (as the lab mock does). */
function splitWrite(str: string, ch: string, intoChar: number, delayMs: number): Step[] {
  const buf = Buffer.from(str, 'utf8');
  const at = buf.indexOf(Buffer.from(ch, 'utf8'));
  if (at < 0) return [write(buf)];
  return [write(buf.subarray(0, at + intoChar)), sleep(delayMs), write(buf.subarray(at + intoChar))];
}

const sse = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

function intHeader(req: MockRequest, name: string, fallback: number): number {
  const v = header(req, name);
  return v ? Number.parseInt(v, 10) : fallback;
}

export function messagesPlan(req: MockRequest, s: MockSettings): Plan {
  const reqId = mockRequestId(req.raw);
  const err = pickError(req, s);
  const perDelay = intHeader(req, 'x-mock-delay-ms', s.chunkDelayMs);
  const latency = intHeader(req, 'x-mock-latency-ms', s.latencyMs);
  const lead: Step[] = latency > 0 ? [sleep(latency)] : [];
  if (err && err !== 'stream-error') {
    const p = errorPlan(err, reqId, s);
    return { ...p, steps: [...lead, ...p.steps] };
  }
  const body = req.body;
  const model = body?.model || 'claude-sonnet-4-5-20250929';
  const msgId = 'msg_mock_' + sha256hex(req.raw).slice(0, 24);
  const split = wantsSplitUtf8(req);
  const splitDelay = intHeader(req, 'x-mock-split-delay-ms', s.splitDelayMs);
  const toolUse = wantsToolUse(req) ? toolUseBlock(req) : null;
  const pieces = split ? [...replyPieces(body), ...SPLIT_PIECES] : replyPieces(body);
  const text = pieces.join('');
  const outputTokens = pieces.length + 3 + (toolUse ? 7 : 0);
  const usage = usageFor(body, outputTokens);
  const okHeaders = {
    ...commonHeaders(reqId),
    'anthropic-ratelimit-unified-status': 'allowed',
    'anthropic-ratelimit-unified-5h-status': s.unified5hStatus,
    'anthropic-ratelimit-unified-5h-reset': String(Math.floor(s.nowMs() / 1000 / 3600 + 5) * 3600),
  };

  if (!body?.stream) {
    const payload = JSON.stringify({
      id: msgId,
      type: 'message',
      role: 'assistant',
      model,
      content: toolUse ? [{ type: 'text', text }, toolUse] : [{ type: 'text', text }],
      stop_reason: toolUse ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage,
    });
    return {
      status: 200,
      headers: { ...okHeaders, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      steps: [...lead, ...(split ? splitWrite(payload, '你', 1, splitDelay) : [write(payload)])],
    };
  }

  const steps: Step[] = [...lead];
  steps.push(
    write(
      sse('message_start', {
        type: 'message_start',
        message: {
          id: msgId,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      }),
    ),
    sleep(perDelay),
    write(sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })),
    write(sse('ping', { type: 'ping' })),
  );
  for (const [i, p] of pieces.entries()) {
    steps.push(sleep(perDelay));
    const ev = sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: p } });
    if (split && p === SPLIT_PIECES[0]) steps.push(...splitWrite(ev, '你', 1, splitDelay));
    else if (split && p === SPLIT_PIECES[1]) steps.push(...splitWrite(ev, '🙂', 2, splitDelay));
    else steps.push(write(ev));
    if (err === 'stream-error' && i === 2) {
      steps.push(write(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })));
      return { status: 200, headers: streamHeaders(okHeaders), steps };
    }
  }
  steps.push(sleep(perDelay), write(sse('content_block_stop', { type: 'content_block_stop', index: 0 })));
  if (toolUse) {
    const json = JSON.stringify(toolUse.input);
    const cut = Math.floor(json.length / 2);
    steps.push(
      write(
        sse('content_block_start', {
          type: 'content_block_start',
          index: 1,
          content_block: { type: 'tool_use', id: toolUse.id, name: toolUse.name, input: {} },
        }),
      ),
    );
    for (const part of [json.slice(0, cut), json.slice(cut)]) {
      steps.push(
        sleep(perDelay),
        write(sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: part } })),
      );
    }
    steps.push(write(sse('content_block_stop', { type: 'content_block_stop', index: 1 })));
  }
  steps.push(
    write(
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: toolUse ? 'tool_use' : 'end_turn', stop_sequence: null },
        usage: {
          input_tokens: usage.input_tokens,
          cache_creation_input_tokens: usage.cache_creation_input_tokens,
          cache_read_input_tokens: usage.cache_read_input_tokens,
          output_tokens: outputTokens,
        },
      }),
    ),
    write(sse('message_stop', { type: 'message_stop' })),
  );
  return { status: 200, headers: streamHeaders(okHeaders), steps };
}

function streamHeaders(ok: Record<string, string>): Record<string, string> {
  return { ...ok, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };
}

export function countTokensPlan(req: MockRequest, s: MockSettings): Plan {
  const err = pickError(req, s);
  return err ? errorPlan(err, mockRequestId(req.raw), s) : jsonPlan(200, { input_tokens: estimateInputTokens(req.body) });
}

export function modelsPlan(): Plan {
  return jsonPlan(200, {
    data: [
      { type: 'model', id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
      { type: 'model', id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-01T00:00:00Z' },
    ],
    has_more: false,
    first_id: 'claude-sonnet-4-5-20250929',
    last_id: 'claude-haiku-4-5-20251001',
  });
}
