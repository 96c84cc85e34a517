import type { UpstreamResponse } from '../upstream/h1/upstream-response.js';
import { effectiveModel } from '../auth/permissions.js';
import { nonStreamUsage, withCompressionVary, type ProviderRelayCall } from '../relay-bedrock/relay-call.js';
import { renderResult, respondAfterUsage, streamSink } from '../relay-claude/legacy-render.js';
import { queueRejectedResult, RelayError, writeQueueRejection } from '../relay-claude/official-relay.js';
import { inUserMessageQueue, type QueueGate } from '../relay-claude/user-message-queue.js';
import { decodedBody, readAll, targetUrl, upstreamHeaderPairs } from '../relay-claude/upstream-target.js';
import { parseVendorPrefixedModel } from '../scheduler/model-support.js';
import { sendUpstream } from '../upstream/client.js';
import { accountProxyWithEnvFallback } from '../upstream/proxy-policy.js';
import { ccrMappedModel, loadCcrAccount, type CcrAccount } from './ccr-account.js';
import { buildCcrHeaders, ccrMessagesUrl } from './ccr-headers.js';
import { CcrMarks } from './ccr-marks.js';
import { ccrQuotaOf } from './ccr-quota.js';
import { CcrLineFramer } from './ccr-stream-lines.js';

/**
 * The CCR relay (ccrRelayService + api.js' `accountType === 'ccr'` branches): the account's
 * apiUrl and key, `ccr,` prefix removed and the account's model mapping applied, CCR headers,
 * account state on 401 / 429 (+ the daily quota check) / 529 / success, `lastUsedAt`, usage as api.js records it
 * (stream: recordUsageWithDetails(…, 'ccr'); non-stream: recordUsage). Errors the legacy let
 * reach api.js' catch block are thrown as RelayError (the messages module renders them).
 */

interface Prepared {
  account: CcrAccount;
  url: URL;
  headers: string[];
  payload: Buffer;
  model: string;
}

async function prepare(c: ProviderRelayCall): Promise<Prepared> {
  const account = await loadCcrAccount(c.s, c.accountId);
  if (!account) throw new RelayError('CCR account not found');
  const { baseModel } = parseVendorPrefixedModel(c.body['model']);
  const model = ccrMappedModel(account.supportedModels, baseModel);
  const payload = Buffer.from(JSON.stringify({ ...c.body, model }), 'utf8');
  const real = ccrMessagesUrl(account.apiUrl);
  const pairs = buildCcrHeaders({
    clientHeaders: c.clientHeaders,
    accountUserAgent: account.userAgent,
    accountApiKey: account.apiKey,
    contentLength: payload.length,
    host: new URL(real).host,
  });
  const headers: string[] = [];
  for (const [k, v] of pairs) headers.push(k, v);
  return { account, url: targetUrl(real, c.s.deps.upstreamOverride), headers, payload, model };
}

function send(c: ProviderRelayCall, p: Prepared) {
  return sendUpstream(c.s.agents, {
    url: p.url,
    method: 'POST',
    headers: p.headers,
    body: p.payload,
    // ccrAccountService._createProxyAgent: the account's proxy, else GLOBAL_PROXY_* (no group / policy proxies)
    proxy: c.s.deps.upstreamOverride ? null : accountProxyWithEnvFallback(p.account.proxy, c.s.settings.globalProxy),
    timeoutMs: c.s.settings.requestTimeoutMs,
    signal: c.signal,
  });
}

const marksOf = (c: ProviderRelayCall) => new CcrMarks(c.s.redis(), c.s.deps.clock);

/** Relay one request to a CCR account, stream or not. */
export async function relayCcr(c: ProviderRelayCall): Promise<void> {
  // the user-message queue (off by default) around the upstream call, as ccrRelayService
  if (c.isStream) await inUserMessageQueue(c.s, c.accountId, c.body, (r) => writeQueueRejection(streamSink(c.reply, c.res), r), (gate) => ccrStream(c, gate));
  else
    await inUserMessageQueue(
      c.s,
      c.accountId,
      c.body,
      (r) => {
        // relayRequest returns the refusal as a response (JSON body + x-user-message-queue-error); api.js renders it
        if (!c.res.destroyed && !c.res.socket?.destroyed && !c.res.writableEnded) renderResult(c.reply, queueRejectedResult(r, c.accountId), JSON.parse(r.body) as unknown);
      },
      (gate) => ccrNonStream(c, gate),
    );
}

/** axios' parsed body → the string the relay returned (JSON re-serialised, a JSON string unwrapped, text kept). */
function responseText(text: string): string {
  if (!text) return text;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
  } catch {
    return text;
  }
}

function networkError(err: unknown, signal: AbortSignal): RelayError {
  const code = (err as { code?: string }).code;
  // axios: an aborted request and a timeout (ECONNABORTED) both became 'Client disconnected'
  if (signal.aborted || code === 'ABORT_ERR' || code === 'TIMEOUT' || (err as Error).name === 'AbortError') return new RelayError('Client disconnected');
  return new RelayError((err as Error).message, code);
}

async function ccrNonStream(c: ProviderRelayCall, gate: QueueGate): Promise<void> {
  const p = await prepare(c);
  const marks = marksOf(c);
  let response: UpstreamResponse;
  let raw: Buffer;
  try {
    ({ response } = await send(c, p));
    raw = await readAll(decodedBody(response, true));
  } catch (err) {
    throw networkError(err, c.signal);
  }
  await gate.release(); // axios resolved: the queue moves on
  const status = response.statusCode ?? 500;
  if (status === 401) await marks.unauthorized(c.accountId);
  else if (status === 429) {
    await ccrQuotaOf(c.s).checkQuotaUsage(c.accountId, p.account.raw); // over the daily quota? (before the rate-limit mark, which then wins status / errorMessage)
    await marks.rateLimited(c.accountId);
  }
  else if (status === 529) await marks.overloaded(c.accountId);
  else if (status === 200 || status === 201) await marks.success(c.accountId);
  await marks.touch(c.accountId);
  const body = responseText(raw.toString('utf8'));
  if (c.res.destroyed || c.res.socket?.destroyed || c.res.writableEnded) return;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body) as unknown;
  } catch {
    parsed = undefined;
  }
  const usage = nonStreamUsage(parsed, c.body['model'], c.accountId, effectiveModel);
  if (usage) c.onUsage(usage);
  respondAfterUsage(c.s, c.res, () => renderResult(c.reply, { status, headers: upstreamHeaderPairs(response).filter(([k]) => k !== 'content-encoding'), body, accountId: c.accountId }, parsed));
}

async function ccrStream(c: ProviderRelayCall, gate: QueueGate): Promise<void> {
  const { res, reply } = c;
  const p = await prepare(c);
  const marks = marksOf(c);
  const writable = () => !res.destroyed && !res.writableEnded;
  const log = (err: unknown) => c.s.deps.log.warn({ err, accountId: c.accountId }, 'ccr account state write failed');
  let response: UpstreamResponse;
  let abort: (err?: Error) => void;
  try {
    ({ response, abort } = await send(c, p));
  } catch (err) {
    const e = networkError(err, c.signal);
    if (!c.signal.aborted) {
      if (!res.headersSent && !res.destroyed) reply.writeHead(500, withCompressionVary([['Content-Type', 'application/json']], 'application/json'));
      if (writable()) res.end(`data: ${JSON.stringify({ error: { type: 'internal_error', message: 'CCR API request failed' } })}\n\n`);
    }
    throw e;
  }
  const status = response.statusCode ?? 500;
  const body = decodedBody(response, true);
  if (status !== 200) {
    if (status === 401) void marks.unauthorized(c.accountId).catch(log);
    // the legacy fires both without waiting; the quota check's mark lands last (it has more reads to do)
    else if (status === 429)
      void marks
        .rateLimited(c.accountId)
        .catch(log)
        .then(() => ccrQuotaOf(c.s).checkQuotaUsage(c.accountId, p.account.raw));
    else if (status === 529) void marks.overloaded(c.accountId).catch(log);
    if (!res.headersSent && !res.destroyed) {
      const ct = response.headers['content-type'] || 'application/json';
      reply.writeHead(
        status,
        withCompressionVary(
          [
            ['Content-Type', ct],
            ['Cache-Control', 'no-cache'],
            ['Connection', reply.headers.get('Connection') || 'keep-alive'],
          ],
          ct,
        ),
      );
    }
    try {
      for await (const chunk of body) if (writable()) res.write(chunk as Buffer);
    } catch {
      // upstream cut: end what we have
    }
    if (writable()) res.end();
    await marks.touch(c.accountId).catch(log);
    return;
  }
  await gate.release(); // 200 headers (onResponseHeaderReceived): the queue moves on; an error answer keeps it to the end
  void marks.success(c.accountId).catch(log);
  if (!res.headersSent && !res.destroyed) {
    reply.writeHead(200, [
      ['Content-Type', 'text/event-stream'],
      ['Cache-Control', 'no-cache'],
      ['Connection', reply.headers.get('Connection') || 'keep-alive'],
      ['Access-Control-Allow-Origin', '*'],
      ['Access-Control-Allow-Headers', 'Cache-Control'],
    ]);
  }
  const framer = new CcrLineFramer();
  const onClose = () => abort(Object.assign(new Error('Client disconnected'), { name: 'AbortError' }));
  res.once('close', onClose);
  let failed: unknown = null;
  try {
    for await (const chunk of body) {
      if (!writable()) break;
      const out = framer.push(chunk as Buffer);
      if (out.length) res.write(out);
    }
  } catch (err) {
    failed = err;
  } finally {
    res.off('close', onClose);
  }
  // The legacy reports usage at the upstream's end; on a client disconnect its promise never
  // settled (no usage, no lastUsedAt). Here the upstream is stopped and what was seen is recorded.
  if (framer.usage) recordStream(c, p.model, framer.usage);
  if (failed && !c.signal.aborted && writable()) {
    res.end();
    throw networkError(failed, c.signal);
  }
  if (writable()) res.end();
  await marks.touch(c.accountId).catch(log);
}

/** api.js CCR stream callback → recordUsageWithDetails(key, usage, model, account, 'ccr'). */
function recordStream(c: ProviderRelayCall, model: string, u: { input_tokens: number; output_tokens: number; cache_creation_input_tokens: number; cache_read_input_tokens: number }): void {
  c.onUsage({
    accountId: c.accountId,
    accountType: 'ccr',
    model: model || 'unknown',
    usage: {
      input_tokens: u.input_tokens || 0,
      output_tokens: u.output_tokens || 0,
      cache_creation_input_tokens: u.cache_creation_input_tokens || 0,
      cache_read_input_tokens: u.cache_read_input_tokens || 0,
    },
    recorder: 'details',
  });
}
