import type { UpstreamResponse } from '../upstream/h1/upstream-response.js';
import { keys } from '../storage/keys.js';
import { acquireConsoleSlot, keepConsoleSlot, releaseConsoleSlot } from './console-slot.js';
import { buildConsoleHeaders, flatten } from './headers.js';
import { queueRejectedResult, RelayError, writeQueueRejection, type RelayResult, type StreamSink } from './official-relay.js';
import type { RelayCallBase } from './relay-call.js';
import { transformConsoleBody } from './request-transform.js';
import { sanitizeErrorMessage, sanitizeUpstreamError } from './sanitize.js';
import { sendToAccount, type PreparedUpstream } from './send-to-account.js';
import { pumpSse } from './sse-pump.js';
import { consoleUrl, decodedBody, readAll, targetUrl, upstreamHeaderPairs } from './upstream-target.js';
import { ConsoleUsageCollector, type StreamUsage } from './usage.js';
import { inUserMessageQueue, type QueueGate } from './user-message-queue.js';

export interface ConsoleCall extends RelayCallBase {
  countTokens?: boolean;
  /**
   * Non-stream: leave the account's lastUsedAt touch to the caller (RelayResult.accountTouchKey),
   * which folds it into the usage write or issues it alone before writing the response.
   */
  deferTouch?: boolean;
}

const DISABLED_PATTERNS = [
  'organization has been disabled',
  'account has been disabled',
  'account is disabled',
  'no account supporting',
  'account not found',
  'invalid account',
  'too many active sessions',
];

interface Prepared extends PreparedUpstream {
  member: string | null;
  model: unknown;
}

function parseModels(raw: string | undefined): unknown {
  try {
    return JSON.parse(raw || '[]') as unknown;
  } catch {
    return [];
  }
}

async function prepare(c: ConsoleCall): Promise<Prepared> {
  const { s } = c;
  const account = c.snapshot ?? (await s.accounts.get('claude-console', c.accountId));
  if (!account) throw new RelayError('Claude Console Claude account not found');
  const apiKey = s.cipher.decrypt('claude-console', account['apiKey']);
  let member: string | null = null;
  const max = Number.parseInt(account['maxConcurrentTasks'] ?? '', 10) || 0;
  if (max > 0) {
    member = s.deps.ids.uuid();
    if (!(await acquireConsoleSlot(s.redis(), c.accountId, member, max, s.deps.clock.now()))) {
      throw new RelayError('Console account concurrency limit reached', 'CONSOLE_ACCOUNT_CONCURRENCY_FULL');
    }
  }
  const payloadBody = transformConsoleBody(c.body, parseModels(account['supportedModels']));
  const payload = Buffer.from(JSON.stringify(payloadBody), 'utf8');
  const real = consoleUrl(account['apiUrl'] ?? '', !!c.countTokens);
  const headers = buildConsoleHeaders({
    clientHeaders: c.clientHeaders,
    accountUserAgent: account['userAgent'] || undefined,
    accountApiKey: apiKey,
    contentLength: payload.length,
    host: new URL(real).host,
  });
  return { account, url: targetUrl(real, s.deps.upstreamOverride), headers: flatten(headers), payload, member, model: payloadBody['model'] };
}

/** State marks per upstream status (§5.3 step 2). */
async function markStatus(c: ConsoleCall, p: Prepared, status: number, text: string): Promise<void> {
  const { s } = c;
  const protectionOff = p.account['disableAutoProtection'] === 'true';
  if (status === 401) {
    if (!protectionOff) await s.console.unauthorized(c.accountId);
  } else if (status === 400 && DISABLED_PATTERNS.some((t) => errorText(text).toLowerCase().includes(t))) {
    // blocked for CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES (0: an old block is lifted instead)
    if (!protectionOff) await s.consoleState.markBlocked(c.accountId);
  } else if (status === 429) {
    // first: did the account's own daily quota cause it?
    await s.consoleState.checkQuotaUsage(c.accountId);
    if (!protectionOff) await s.console.rateLimited(c.accountId);
  } else if (status === 529) {
    if (!protectionOff) await s.console.overloaded(c.accountId);
  } else if (status === 200 || status === 201) {
    await s.console.success(c.accountId, p.account);
  }
}

function errorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const err = parsed['error'];
    if (typeof err === 'string') return err;
    if (err && typeof err === 'object' && typeof (err as Record<string, unknown>)['message'] === 'string') return (err as Record<string, string>)['message']!;
    return typeof parsed['message'] === 'string' ? parsed['message'] : '';
  } catch {
    return text;
  }
}

/** Error bodies are sanitised: JSON → every string cleaned; text → cleaned. */
export function sanitizedErrorBody(text: string): string {
  try {
    return JSON.stringify(sanitizeUpstreamError(JSON.parse(text)));
  } catch {
    return sanitizeErrorMessage(text);
  }
}

function networkError(err: unknown, signal: AbortSignal): RelayError {
  const code = (err as { code?: string }).code;
  if (signal.aborted || code === 'ABORT_ERR' || code === 'TIMEOUT' || (err as Error).name === 'AbortError') return new RelayError('Client disconnected');
  return new RelayError((err as Error).message, code);
}

/** relayRequest on a console account (non-stream, incl. count_tokens with its 404 handling in the caller). */
export async function consoleNonStream(c: ConsoleCall): Promise<RelayResult> {
  return inUserMessageQueue(c.s, c.accountId, c.body, (r) => queueRejectedResult(r, c.accountId), (gate) => nonStream(c, gate));
}

async function nonStream(c: ConsoleCall, gate: QueueGate): Promise<RelayResult> {
  const p = await prepare(c);
  const now = () => c.s.deps.clock.now();
  try {
    let response: UpstreamResponse;
    let raw: Buffer;
    try {
      ({ response } = await sendToAccount(c, p, 'claude-console'));
    } catch (err) {
      throw networkError(err, c.signal);
    }
    try {
      raw = await readAll(decodedBody(response, true));
    } catch (err) {
      // axios: a response body cut short rejects with 'stream has been aborted'
      if (c.signal.aborted) throw new RelayError('Client disconnected');
      throw new RelayError((err as { code?: string }).code === 'ECONNRESET' ? 'stream has been aborted' : (err as Error).message);
    }
    await gate.release(); // axios resolved: the upstream has the request
    const status = response.statusCode ?? 500;
    const text = raw.toString('utf8');
    await markStatus(c, p, status, text);
    // lastUsedAt: issued now (before the response is written, as the legacy orders it), not waited for
    if (!c.deferTouch) void c.s.console.touch(c.accountId).catch((err: unknown) => c.s.deps.log.warn({ err }, 'console lastUsedAt touch failed'));
    const headers = upstreamHeaderPairs(response).filter(([k]) => k !== 'content-encoding');
    let body: string;
    let json: unknown;
    if (status < 200 || status >= 300) body = sanitizedErrorBody(text);
    else {
      try {
        json = JSON.parse(text);
        body = JSON.stringify(json);
      } catch {
        json = undefined;
        body = text;
      }
    }
    return { status, headers, body, ...(json !== undefined ? { json } : {}), accountId: c.accountId, ...(c.deferTouch ? { accountTouchKey: keys.account('claude-console', c.accountId) } : {}) };
  } finally {
    // issued before the response is written; its reply is not waited for
    if (p.member) void releaseConsoleSlot(c.s.redis(), c.accountId, p.member, now()).catch(() => undefined);
  }
}

/** Streaming on a console account (§5.4), inside the user-message queue. */
export async function consoleStream(c: ConsoleCall, out: StreamSink, onUsage: (u: StreamUsage) => void): Promise<void> {
  return inUserMessageQueue(c.s, c.accountId, c.body, (r) => writeQueueRejection(out, r), (gate) => stream(c, out, onUsage, gate));
}

async function stream(c: ConsoleCall, out: StreamSink, onUsage: (u: StreamUsage) => void, gate: QueueGate): Promise<void> {
  const { s } = c;
  const p = await prepare(c);
  const nowIso = () => new Date(s.deps.clock.now()).toISOString();
  // a stream may outlive the slot's 600 s lease: renewed every 5 minutes while it runs, as the legacy does
  const stopRenewing = p.member ? keepConsoleSlot(s.leases, c.accountId, p.member) : null;
  try {
    let response: UpstreamResponse;
    let abort: (err?: Error) => void;
    try {
      ({ response, abort } = await sendToAccount(c, p, 'claude-console'));
    } catch (err) {
      const e = networkError(err, c.signal);
      if (!c.signal.aborted) {
        if (!out.headersSent()) out.startError(500);
        if (out.writable()) {
          out.write(`event: error\ndata: ${JSON.stringify({ error: (err as Error).message, code: (err as { code?: string }).code, timestamp: nowIso() })}\n\n`);
          out.end();
        }
      }
      throw e;
    }
    const status = response.statusCode ?? 500;
    if (status !== 200) {
      let text = '';
      try {
        text = (await readAll(decodedBody(response, true))).toString('utf8');
      } catch {
        text = '';
      }
      await markStatus(c, p, status, text);
      if (!out.headersSent()) out.rawJson(status, sanitizedErrorBody(text));
      await s.console.touch(c.accountId);
      return;
    }
    await gate.release(); // 200 headers: the upstream accepted the request
    void s.console.success(c.accountId, p.account).catch(() => undefined);
    out.start(200);
    const defaultModel = typeof c.body['model'] === 'string' ? c.body['model'] : p.account['defaultModel'] || null;
    const usage = new ConsoleUsageCollector(defaultModel);
    await pumpSse(decodedBody(response, true), out, {
      signal: c.signal,
      abort,
      onEvent: (event) => {
        const u = usage.feed(event);
        if (u) onUsage(u);
      },
      onUpstreamError: (err) => out.write(`event: error\ndata: ${JSON.stringify({ error: 'Stream error', message: err.message, timestamp: nowIso() })}\n\n`),
    });
    // The legacy ignores chunks after a client disconnect and reports the fallback at upstream
    // end; stopping the upstream at the disconnect reports the same tokens, earlier.
    const fallback = usage.finish();
    if (fallback) onUsage(fallback);
    void s.console.touch(c.accountId).catch((err: unknown) => s.deps.log.warn({ err }, 'console lastUsedAt touch failed'));
  } finally {
    stopRenewing?.();
    if (p.member) await releaseConsoleSlot(s.redis(), c.accountId, p.member, s.deps.clock.now()).catch(() => undefined);
  }
}
