import type { MigratedModule, MigratedModuleFactory } from '../module.js';
import { effectiveModel, hasPermission, isModelBlacklisted, modelBodies, permissionBodies } from '../auth/permissions.js';
import type { AuthSuccess } from '../auth/types.js';
import type { RouteCall } from '../routes/shared/legacy-route.js';
import { SchedulerError } from '../scheduler/claude-scheduler.js';
import { sessionHashOf } from '../scheduler/session-hash.js';
import { checkMessagesBody, type MessagesBody } from './body-schema.js';
import { deferredReply } from '../http/deferred-reply.js';
import { consoleNonStream, consoleStream } from './console-relay.js';
import { catchBlockBody, CONCURRENCY_FULL_BODY, parseJson, renderResult, respondAfterUsage, setSseHeaders, streamSink } from './legacy-render.js';
import { rateLimitMessage } from './messages-text.js';
import { officialNonStream, officialStream, RelayError } from './official-relay.js';
import type { RelayServices } from './relay-services.js';
import { relayModule } from './relay-module.js';
import { scheduleWithSessionBinding } from './session-binding.js';
import type { ProviderRelayCall } from '../relay-bedrock/relay-call.js';
import { relayCcr } from '../relay-ccr/ccr-relay.js';
import { selectCcrAccount } from '../relay-ccr/ccr-select.js';
import { usageForRecording, type StreamUsage } from './usage.js';

/**
 * `claude-messages`: POST /api/v1/messages, /claude/v1/messages, /api/claude/v1/messages,
 * /claude/claude/v1/messages (relay-claude.md §2). Body intake and API-key auth as the legacy's
 * middleware chain; then permission, edge validation, model blacklist, one scheduling call,
 * and the official / console relay, stream or not.
 */
export const createClaudeMessagesModule: MigratedModuleFactory = (deps): MigratedModule => relayModule('claude-messages', deps, (s, call, result) => handleMessages(s, call, result, false));

export default createClaudeMessagesModule;

/**
 * The Bedrock relay is loaded on its first use: it pulls in the AWS SDK (~18 MB of RSS per process),
 * which a gateway without Bedrock accounts never needs (import() caches the module after the first call).
 */
const relayBedrock = async (c: ProviderRelayCall): Promise<void> => (await import('../relay-bedrock/bedrock-relay.js')).relayBedrock(c);

function recordStreamUsage(s: RelayServices, a: AuthSuccess, accountId: string, accountType: 'claude' | 'claude-console', u: StreamUsage): void {
  const r = usageForRecording(u);
  const usage: Record<string, unknown> = {
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cache_creation_input_tokens: r.cache_creation_input_tokens,
    cache_read_input_tokens: r.cache_read_input_tokens,
  };
  if (u.cache_creation && (u.cache_creation.ephemeral_5m_input_tokens > 0 || u.cache_creation.ephemeral_1h_input_tokens > 0)) usage['cache_creation'] = { ...u.cache_creation };
  s.usage.recordDetached({
    keyId: a.key.id,
    accountId,
    accountType,
    model: u.model || 'unknown',
    usage,
    recorder: 'details',
    rateLimitWindow: !!a.rateLimit,
    keySnapshot: a.key.record,
  });
}

/**
 * Non-stream usage: the legacy awaits recordUsage before res.json. Here the one EVALSHA is written
 * to the Redis connection synchronously by this call (before the response bytes), and the response
 * does not wait for its reply: Redis applies it before anything this process sends later.
 */
function recordNonStreamUsage(s: RelayServices, a: AuthSuccess, body: MessagesBody, accountId: string, parsed: unknown, touchAccountKey?: string): void {
  const touchAlone = () => {
    if (touchAccountKey) void s.console.touch(accountId).catch((err: unknown) => s.deps.log.warn({ err }, 'console lastUsedAt touch failed'));
  };
  if (!parsed || typeof parsed !== 'object') return touchAlone();
  const json = parsed as { usage?: Record<string, unknown>; model?: unknown };
  const u = json.usage;
  if (!u || u['input_tokens'] === undefined || u['output_tokens'] === undefined) return touchAlone();
  const rawModel = (json.model as string) || (body['model'] as string) || 'unknown';
  const model = effectiveModel(rawModel) || rawModel;
  s.usage.recordDetached({
    keyId: a.key.id,
    accountId,
    model,
    usage: {
      input_tokens: (u['input_tokens'] as number) || 0,
      output_tokens: (u['output_tokens'] as number) || 0,
      cache_creation_input_tokens: (u['cache_creation_input_tokens'] as number) || 0,
      cache_read_input_tokens: (u['cache_read_input_tokens'] as number) || 0,
    },
    recorder: 'basic',
    rateLimitWindow: !!a.rateLimit,
    keySnapshot: a.key.record,
    touchAccountKey,
  });
}

async function handleMessages(s: RelayServices, call: RouteCall, a: AuthSuccess, retried: boolean): Promise<void> {
  const { key } = a;
  const { res } = call;
  if (!hasPermission(key, 'claude')) {
    const r = permissionBodies.claudeMessages();
    call.reply().json(r.status, r.body);
    return;
  }
  const checked = checkMessagesBody(call.body);
  if (!checked.ok) {
    call.reply().json(checked.status, checked.body);
    return;
  }
  const body = checked.body;
  if (isModelBlacklisted(key, body['model'])) {
    const r = modelBodies.claudeForbidden();
    call.reply().json(r.status, r.body);
    return;
  }
  const isStream = body['stream'] === true;
  if (res.destroyed || res.socket?.destroyed || res.writableEnded) return;
  // The reply's envelope (with the SSE headers api.js sets before scheduling) is built in the check phase of
  // this loop turn: after the upstream request has been written when scheduling needed no I/O, else on first use.
  const reply = deferredReply(() => {
    const r = call.reply();
    if (isStream) setSseHeaders(r);
    return r;
  });
  setImmediate(reply.build);
  if (isStream) res.socket?.setNoDelay(true);
  const signal = call.ctx.signal;
  const model = typeof body['model'] === 'string' ? body['model'] : null;
  let sessionHash: string | null = null;
  try {
    sessionHash = sessionHashOf(body);
    let selected;
    try {
      // `ccr,<model>` goes to the CCR pool (the legacy's own selection); every other model to the unified scheduler
      const schedule = async () => (await selectCcrAccount(s, sessionHash, model)) ?? (await s.scheduler.select(key, sessionHash, model, null, a.readAhead));
      const bound = await scheduleWithSessionBinding(s, key, body, sessionHash, model, schedule, a.readAhead);
      if (bound.refused) {
        reply.json(bound.refused.status, bound.refused.body);
        return;
      }
      selected = bound.selection!;
    } catch (err) {
      if (err instanceof SchedulerError && err.code === 'CLAUDE_DEDICATED_RATE_LIMITED') {
        const payload = { error: 'upstream_rate_limited', message: rateLimitMessage(err.rateLimitEndAt ?? null, s.deps.clock.timezoneOffsetHours) };
        if (isStream) streamSink(reply, res).rawJson(403, JSON.stringify(payload));
        else reply.json(403, payload);
        return;
      }
      throw err;
    }
    const common = { s, key, clientHeaders: call.req.headers, body, accountId: selected.accountId, signal, snapshot: selected.snapshot };
    if (selected.accountType === 'claude-official') {
      const c = { ...common, sessionHash };
      if (isStream) {
        await officialStream(c, streamSink(reply, res), (u) => recordStreamUsage(s, a, selected.accountId, 'claude', u));
        return;
      }
      const result = await officialNonStream(c);
      if (res.destroyed || res.writableEnded) return;
      const parsed = parseJson(result.body);
      recordNonStreamUsage(s, a, body, result.accountId, parsed);
      respondAfterUsage(s, res, () => renderResult(reply, result, parsed));
      return;
    }
    if (selected.accountType === 'claude-console') {
      if (isStream) {
        await consoleStream(common, streamSink(reply, res), (u) => recordStreamUsage(s, a, selected.accountId, 'claude-console', u));
        return;
      }
      const result = await consoleNonStream({ ...common, deferTouch: true });
      if (res.destroyed || res.writableEnded) {
        recordNonStreamUsage(s, a, body, result.accountId, null, result.accountTouchKey);
        return;
      }
      const parsed = result.json !== undefined ? result.json : parseJson(result.body);
      recordNonStreamUsage(s, a, body, result.accountId, parsed, result.accountTouchKey);
      respondAfterUsage(s, res, () => renderResult(reply, result, parsed));
      return;
    }
    if (selected.accountType === 'bedrock' || selected.accountType === 'ccr') {
      const relay = selected.accountType === 'bedrock' ? relayBedrock : relayCcr;
      await relay({
        ...common,
        sessionHash,
        isStream,
        reply,
        res,
        onUsage: (u) => s.usage.recordDetached({ ...u, keyId: a.key.id, rateLimitWindow: !!a.rateLimit, keySnapshot: a.key.record }),
      });
      return;
    }
    if (!res.headersSent) reply.json(500, { error: 'Claude relay error', message: `${selected.accountType} relay is not migrated` });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'CONSOLE_ACCOUNT_CONCURRENCY_FULL') {
      if (!retried && !res.headersSent) {
        await s.scheduler.clearMapping(sessionHash);
        await handleMessages(s, call, a, true);
        return;
      }
      if (!res.headersSent) reply.json(503, CONCURRENCY_FULL_BODY);
      else if (!res.writableEnded) res.end();
      return;
    }
    if (!(err instanceof RelayError) && !(err instanceof SchedulerError)) s.deps.log.error({ err }, 'claude relay failed');
    if (!res.headersSent && !res.destroyed) {
      const out = catchBlockBody(err, call.nowIso());
      reply.json(out.status, out.body);
    } else if (!res.writableEnded && !res.destroyed) res.end();
  }
}
