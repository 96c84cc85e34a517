import type { UpstreamResponse } from '../upstream/h1/upstream-response.js';
import type { AuthenticatedKey } from '../auth/types.js';
import { isOpusModel } from './models.js';
import { buildOfficialHeaders, clientHopView, flatten } from './headers.js';
import { isRealClaudeCodeRequest } from './claude-code-detect.js';
import { opusLimitMessage, rateLimitMessage } from './messages-text.js';
import { keys } from '../storage/keys.js';
import { transformOfficialBody } from './request-transform.js';
import type { RelayCallBase } from './relay-call.js';
import { decodedBody, officialNetworkMessage, officialUrl, readAll, targetUrl, upstreamHeaderPairs } from './upstream-target.js';
import { pumpSse } from './sse-pump.js';
import { sendToAccount, type PreparedUpstream } from './send-to-account.js';
import { OfficialUsageCollector, type StreamUsage } from './usage.js';
import { inUserMessageQueue, type QueueGate, type QueueRejection } from './user-message-queue.js';

/** One relay call on an official OAuth account, after scheduling. */
export interface OfficialCall extends RelayCallBase {
  sessionHash: string | null;
  countTokens?: boolean;
}

/** What api.js renders for a non-stream call (relay-claude.md §2.4). */
export interface RelayResult {
  status: number;
  /** Upstream header pairs (lower-case), or the locally generated ones. */
  headers: Array<[string, string]>;
  body: string;
  /** When set, `body` is JSON.stringify(json): the value already parsed (rendered and read for usage without parsing `body` again). */
  json?: unknown;
  accountId: string;
  /** An account hash whose lastUsedAt the caller still has to touch (ConsoleCall.deferTouch). */
  accountTouchKey?: string;
}

/** An error the handler catch block classifies by message (relay-claude.md §2.6). */
export class RelayError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const RATE_LIMIT_TEXT = "exceed your account's rate limit";
const ORG_DISABLED = 'this organization has been disabled';

/** _extractErrorMessage: `error` string, `error.message`, `error.error`, or `message`. */
export function extractErrorMessage(body: string): string {
  const trimmed = body.trim();
  if (!trimmed) return '';
  try {
    const parsed = JSON.parse(trimmed) as Record<string, unknown>;
    const err = parsed['error'];
    if (typeof err === 'string') return err;
    if (err && typeof err === 'object') {
      const e = err as Record<string, unknown>;
      if (typeof e['message'] === 'string') return e['message'];
      if (typeof e['error'] === 'string') return e['error'];
    }
    if (typeof parsed['message'] === 'string') return parsed['message'];
    return '';
  } catch {
    return trimmed;
  }
}

function isDedicated(key: AuthenticatedKey, accountId: string): boolean {
  const bound = key.claudeAccountId;
  return !!bound && !bound.startsWith('group:') && bound === accountId;
}

interface Prepared extends PreparedUpstream {
  dedicated: boolean;
  isOpus: boolean;
  processed: Record<string, unknown>;
}

type Preflight = { kind: 'local'; status: number; body: Record<string, unknown> } | { kind: 'go'; p: Prepared };

async function prepare(c: OfficialCall): Promise<Preflight> {
  const { s } = c;
  const now = s.deps.clock.now();
  const isOpus = isOpusModel(c.body['model']);
  let account = c.snapshot ?? (await s.accounts.get('claude', c.accountId));
  if (!account) throw new RelayError('Account not found');
  const dedicated = isDedicated(c.key, c.accountId);
  if (isOpus && account['opusRateLimitEndAt']) {
    const end = new Date(account['opusRateLimitEndAt']).getTime();
    if (!(Number.isFinite(end) && now < end)) {
      await s.redis().hdel(keys.account('claude', c.accountId), 'opusRateLimitedAt', 'opusRateLimitEndAt');
      account = (await s.accounts.get('claude', c.accountId)) ?? account;
    } else if (dedicated) {
      return { kind: 'local', status: 403, body: { error: 'opus_weekly_limit', message: opusLimitMessage(account['opusRateLimitEndAt'], s.deps.clock.timezoneOffsetHours) } };
    }
  }
  const got = await s.tokens.getWithAccount(c.accountId);
  const token = got.token;
  account = got.account ?? account;
  const processed = transformOfficialBody(c.body, { id: c.accountId, ...account }, s.maxTokensLimit);
  const payloadText = JSON.stringify(processed);
  const payload = Buffer.from(payloadText, 'utf8');
  const unifiedUa = account['useUnifiedUserAgent'] === 'true' ? await s.codeHeaders.unifiedUserAgent(headerString(c.clientHeaders['user-agent'])) : null;
  const { headers, fingerprint } = buildOfficialHeaders({
    clientHeaders: c.clientHeaders,
    accessToken: token,
    contentLength: payload.length,
    model: processed['model'],
    mergeStoredHeaders: typeof processed['model'] === 'string' ? null : await s.codeHeaders.headersFor(c.accountId),
    unifiedUserAgent: unifiedUa,
    apiVersion: s.settings.apiVersion,
  });
  if (fingerprint) await s.redis().set(keys.stainlessHeaders(c.accountId), JSON.stringify(fingerprint), 'NX').catch(() => undefined);
  return {
    kind: 'go',
    p: {
      account,
      dedicated,
      isOpus,
      url: targetUrl(officialUrl(!!c.countTokens), s.deps.upstreamOverride),
      headers: flatten(headers),
      payload,
      processed,
    },
  };
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function resetHeader(response: UpstreamResponse): number | null {
  const raw = response.headers['anthropic-ratelimit-unified-reset'];
  const n = Number.parseInt(String(raw ?? ''), 10);
  return Number.isNaN(n) ? null : n;
}

function fiveHourStatus(response: UpstreamResponse): string | undefined {
  const v = response.headers['anthropic-ratelimit-unified-5h-status'];
  return Array.isArray(v) ? v[0] : v;
}

/** relayRequest (non-stream, incl. count_tokens): the user-message queue around the call. */
export async function officialNonStream(c: OfficialCall): Promise<RelayResult> {
  return inUserMessageQueue(c.s, c.accountId, c.body, (r) => queueRejectedResult(r, c.accountId), (gate) => nonStream(c, gate));
}

/** What relayRequest returns when the user-message queue refused (api.js copies these headers). */
export function queueRejectedResult(r: QueueRejection, accountId: string): RelayResult {
  return { status: r.status, headers: [['Content-Type', 'application/json'], ['x-user-message-queue-error', r.errorType]], body: r.body, accountId };
}

async function nonStream(c: OfficialCall, gate: QueueGate): Promise<RelayResult> {
  const pre = await prepare(c);
  if (pre.kind === 'local') return local(pre.status, pre.body, c.accountId);
  const p = pre.p;
  let response: UpstreamResponse;
  let raw: Buffer;
  try {
    ({ response } = await sendToAccount(c, p, 'claude'));
    raw = await readAll(decodedBody(response, false));
  } catch (err) {
    if (c.signal.aborted) throw new RelayError('Client disconnected');
    const code = (err as { code?: string }).code;
    if (code === 'TIMEOUT' || code === 'ETIMEDOUT') await c.s.official.serverError(c.accountId, null);
    throw new RelayError(officialNetworkMessage(err), code);
  }
  await gate.release(); // the request reached the upstream: next user turn may go
  const status = response.statusCode ?? 500;
  const text = raw.toString('utf8');
  const headers = clientHopView(upstreamHeaderPairs(response), c.clientHeaders);
  const s = c.s;
  if (status !== 200 && status !== 201) {
    let rateLimited = false;
    let resetTs: number | null = null;
    let dedicatedMessage: string | null = null;
    const orgDisabled = status === 400 && extractErrorMessage(text).toLowerCase().includes(ORG_DISABLED);
    if (status === 401) await s.official.unauthorized(c.accountId, c.sessionHash);
    else if (status === 403 || orgDisabled) await s.official.error(c.accountId, 'blocked', c.sessionHash);
    else if (status === 529) {
      // legacy: overload marking reads a config key that does not exist → no-op
    } else if (status >= 500 && status < 600) await s.official.serverError(c.accountId, c.sessionHash);
    else if (status === 429) {
      const reset = resetHeader(response);
      if (p.isOpus && reset !== null) {
        await s.official.opusRateLimited(c.accountId, reset);
        if (p.dedicated) return local(403, { error: 'opus_weekly_limit', message: opusLimitMessage(reset, s.deps.clock.timezoneOffsetHours) }, c.accountId);
      } else {
        rateLimited = true;
        resetTs = reset;
        if (p.dedicated) dedicatedMessage = rateLimitMessage(resetTs || p.account['rateLimitEndAt'] || null, s.deps.clock.timezoneOffsetHours);
      }
    } else if (extractRateLimitText(text)) rateLimited = true;
    if (rateLimited) {
      if (p.dedicated && !dedicatedMessage) dedicatedMessage = rateLimitMessage(resetTs || p.account['rateLimitEndAt'] || null, s.deps.clock.timezoneOffsetHours);
      await s.official.rateLimited(c.accountId, c.sessionHash, resetTs);
      if (dedicatedMessage) return local(403, { error: 'upstream_rate_limited', message: dedicatedMessage }, c.accountId);
    }
  } else {
    await s.official.afterSuccess(c.accountId, fiveHourStatus(response));
    if (Object.keys(c.clientHeaders).length > 0 && isRealClaudeCodeRequest(c.body)) await s.codeHeaders.store(c.accountId, c.clientHeaders);
  }
  return { status, headers, body: text, accountId: c.accountId };
}

/** The transformer-path error text: upstream `error.message`, else `message`. */
function upstreamErrorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    const m = parsed?.error?.message ?? parsed?.message;
    return typeof m === 'string' ? m : '';
  } catch {
    return '';
  }
}

function extractRateLimitText(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } };
    const m = parsed?.error?.message;
    return typeof m === 'string' && m.toLowerCase().includes(RATE_LIMIT_TEXT);
  } catch {
    return text.toLowerCase().includes(RATE_LIMIT_TEXT);
  }
}

function local(status: number, body: Record<string, unknown>, accountId: string): RelayResult {
  return { status, headers: [['Content-Type', 'application/json']], body: JSON.stringify(body), accountId };
}

/** How the stream relays write to the client (the module binds it to the legacy envelope). */
export interface StreamSink {
  headersSent(): boolean;
  writable(): boolean;
  /** JSON answer without SSE framing, `Content-Type: application/json` (exchange 32 shape). */
  rawJson(status: number, text: string): void;
  /** Flush the status line with the SSE headers already set. */
  start(status: number): void;
  /** writeHead with SSE headers for request-level failures (status ≠ 200), plus `extra` headers after them. */
  startError(status: number, extra?: Array<[string, string]>): void;
  write(chunk: Buffer | string): void;
  end(): void;
}

/** relayStreamRequestWithUsageCapture. Resolves when the client response is finished. */
export async function officialStream(
  c: OfficialCall,
  out: StreamSink,
  onUsage: (u: StreamUsage) => void,
  transform?: (batch: string) => string,
): Promise<void> {
  return inUserMessageQueue(c.s, c.accountId, c.body, (r) => writeQueueRejection(out, r), (gate) => stream(c, out, onUsage, gate, transform));
}

/** The stream relays' queue refusal: SSE headers + `x-user-message-queue-error`, one error event, `[DONE]`. */
export function writeQueueRejection(out: StreamSink, r: QueueRejection): void {
  if (!out.headersSent()) out.startError(r.status, [['x-user-message-queue-error', r.errorType]]);
  out.write(`event: error\ndata: ${r.body}\n\n`);
  out.write('data: [DONE]\n\n');
  out.end();
}

async function stream(c: OfficialCall, out: StreamSink, onUsage: (u: StreamUsage) => void, gate: QueueGate, transform?: (batch: string) => string): Promise<void> {
  const s = c.s;
  const pre = await prepare(c);
  if (pre.kind === 'local') {
    out.rawJson(pre.status, JSON.stringify(pre.body));
    return;
  }
  const p = pre.p;
  const nowIso = () => new Date(s.deps.clock.now()).toISOString();
  let response: UpstreamResponse;
  let abort: (err?: Error) => void;
  try {
    ({ response, abort } = await sendToAccount(c, p, 'claude'));
  } catch (err) {
    if (c.signal.aborted) throw new RelayError('Client disconnected');
    const code = (err as { code?: string }).code ?? '';
    if (code === 'TIMEOUT') {
      if (!out.headersSent()) out.startError(504);
      if (out.writable()) {
        out.write(`event: error\ndata: ${JSON.stringify({ error: 'Request timeout', code: 'TIMEOUT', timestamp: nowIso() })}\n\n`);
        out.end();
      }
      throw new RelayError('Request timeout', 'TIMEOUT');
    }
    const status = code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'ECONNREFUSED' ? 502 : code === 'ETIMEDOUT' ? 504 : 500;
    if (!out.headersSent()) out.startError(status);
    if (out.writable()) {
      out.write(`event: error\ndata: ${JSON.stringify({ error: officialNetworkMessage(err), code, timestamp: nowIso() })}\n\n`);
      out.end();
    }
    throw new RelayError(officialNetworkMessage(err), code);
  }
  const status = response.statusCode ?? 500;

  if (status !== 200) {
    if (status === 429) {
      const reset = resetHeader(response);
      if (p.isOpus) {
        if (reset !== null) await s.official.opusRateLimited(c.accountId, reset);
        if (p.dedicated) {
          response.resume();
          out.rawJson(403, JSON.stringify({ error: 'opus_weekly_limit', message: opusLimitMessage(reset, s.deps.clock.timezoneOffsetHours) }));
          return;
        }
      } else {
        await s.official.rateLimited(c.accountId, c.sessionHash, reset);
        if (p.dedicated) {
          response.resume();
          out.rawJson(403, JSON.stringify({ error: 'upstream_rate_limited', message: rateLimitMessage(reset || p.account['rateLimitEndAt'] || null, s.deps.clock.timezoneOffsetHours) }));
          return;
        }
      }
    } else if (status === 401) void s.official.unauthorized(c.accountId, c.sessionHash).catch(() => undefined);
    else if (status === 403) void s.official.error(c.accountId, 'blocked', c.sessionHash).catch(() => undefined);
    else if (status >= 500 && status < 600 && status !== 529) void s.official.serverError(c.accountId, c.sessionHash).catch(() => undefined);
    let text: string;
    try {
      text = (await readAll(response)).toString('utf8');
    } catch {
      text = '';
    }
    if (status === 400 && text.toLowerCase().includes('organization has been disabled')) void s.official.error(c.accountId, 'blocked', c.sessionHash).catch(() => undefined);
    if (out.writable()) {
      out.start(200);
      if (transform) {
        out.write(`data: ${JSON.stringify({ type: 'error', error: upstreamErrorText(text) || `Claude API error: ${status}` })}\n\n`);
      } else {
        out.write('event: error\n');
        out.write(`data: ${JSON.stringify({ error: 'Claude API error', status, details: text, timestamp: nowIso() })}\n\n`);
      }
      out.end();
    }
    throw new RelayError(`Claude API error: ${status}`);
  }

  await gate.release(); // 200 headers: the upstream accepted the request
  out.start(200);
  const usage = new OfficialUsageCollector(typeof c.body['model'] === 'string' ? c.body['model'] : null);
  const outcome = await pumpSse(response, out, { signal: c.signal, abort, onEvent: (event) => usage.feed(event), ...(transform ? { transform } : {}) });
  const u = usage.finish();
  // Deliberate improvement over the legacy: usage seen before a client disconnect is recorded
  // (the legacy destroys the upstream request and records nothing).
  if (u) onUsage(u);
  if (outcome !== 'completed') return;
  if (usage.rateLimitDetected) {
    await s.official.sessionWindowStatus(c.accountId, fiveHourStatus(response));
    const reset = resetHeader(response);
    if (p.isOpus && reset !== null) await s.official.opusRateLimited(c.accountId, reset);
    else await s.official.rateLimited(c.accountId, c.sessionHash, reset);
  } else {
    await s.official.afterSuccess(c.accountId, fiveHourStatus(response));
    await s.codeHeaders.store(c.accountId, c.clientHeaders);
  }
}

