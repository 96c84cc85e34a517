import type { MigratedModule, MigratedModuleFactory } from '../module.js';
import { hasPermission, isModelBlacklisted, modelBodies, permissionBodies } from '../auth/permissions.js';
import type { AuthSuccess } from '../auth/types.js';
import type { RouteCall } from '../routes/shared/legacy-route.js';
import { SchedulerError } from '../scheduler/claude-scheduler.js';
import { sessionHashOf } from '../scheduler/session-hash.js';
import { parseJson, respondAfterUsage, setSseHeaders, streamSink } from './legacy-render.js';
import { rateLimitMessage } from './messages-text.js';
import { officialNonStream, officialStream } from './official-relay.js';
import { convertRequest, convertResponse, convertStreamBatch } from './openai/convert.js';
import type { RelayServices } from './relay-services.js';
import { relayModule } from './relay-module.js';

/**
 * `openai-claude-chat`: POST /openai/claude/v1/chat/completions (relay-openai-gemini-bedrock.md §A).
 * The OpenAI body is converted to a Claude request and relayed through the official relay with
 * the account's stored (or default) Claude Code headers in place of the client's headers.
 */
export const createOpenAiClaudeChatModule: MigratedModuleFactory = (deps): MigratedModule => relayModule('openai-claude-chat', deps, handleChat);

export default createOpenAiClaudeChatModule;

type Json = Record<string, unknown>;

async function handleChat(s: RelayServices, call: RouteCall, a: AuthSuccess): Promise<void> {
  const { res } = call;
  const reply = call.reply();
  const body = (call.body && typeof call.body === 'object' ? call.body : {}) as Json;
  const nowSeconds = () => Math.floor(s.deps.clock.now() / 1000);
  try {
    if (!hasPermission(a.key, 'claude')) {
      const r = permissionBodies.openaiStyle('claude');
      reply.json(r.status, r.body);
      return;
    }
    const claudeRequest = convertRequest(body);
    if (isModelBlacklisted(a.key, claudeRequest['model'] || '')) {
      const r = modelBodies.openaiNotAllowed(String(body['model']));
      reply.json(r.status, r.body);
      return;
    }
    const sessionHash = sessionHashOf(claudeRequest);
    const model = typeof claudeRequest['model'] === 'string' ? claudeRequest['model'] : null;
    let selected;
    try {
      selected = await s.scheduler.select(a.key, sessionHash, model);
    } catch (err) {
      if (err instanceof SchedulerError && err.code === 'CLAUDE_DEDICATED_RATE_LIMITED') {
        reply.json(403, { error: 'upstream_rate_limited', message: rateLimitMessage(err.rateLimitEndAt ?? null, s.deps.clock.timezoneOffsetHours) });
        return;
      }
      throw err;
    }
    const accountId = selected.accountId;
    const headers = await s.codeHeaders.headersFor(accountId);
    const c = { s, key: a.key, clientHeaders: headers, body: claudeRequest, sessionHash, accountId, signal: call.ctx.signal };

    if (claudeRequest['stream']) {
      setSseHeaders(reply);
      const id = `chatcmpl-${s.deps.ids.requestId()}${s.deps.ids.requestId()}`;
      await officialStream(
        c,
        streamSink(reply, res),
        (u) => {
          s.usage.recordDetached({
            keyId: a.key.id,
            accountId,
            accountType: null,
            model: u.model || String(claudeRequest['model']),
            usage: { ...u },
            recorder: 'details',
            rateLimitWindow: !!a.rateLimit,
          });
        },
        (batch) => convertStreamBatch(batch, body['model'], id, nowSeconds),
      );
      return;
    }

    const result = await officialNonStream(c);
    if (res.destroyed || res.writableEnded) return;
    const data = parseJson(result.body) as Json | undefined;
    if (data === undefined) {
      reply.json(502, { error: { message: 'Invalid response from Claude API', type: 'api_error', code: 'invalid_response' } });
      return;
    }
    if (result.status >= 400) {
      const e = (data && typeof data['error'] === 'object' ? data['error'] : {}) as Json;
      reply.json(result.status, { error: { message: e['message'] || 'Claude API error', type: e['type'] || 'api_error', code: e['code'] || 'unknown_error' } });
      return;
    }
    const id = `chatcmpl-${s.deps.ids.requestId()}${s.deps.ids.requestId()}`;
    const openai = convertResponse(data, body['model'], id, nowSeconds());
    if (data['usage'] && typeof data['usage'] === 'object') {
      s.usage.recordDetached({
        keyId: a.key.id,
        accountId,
        accountType: null,
        model: String(claudeRequest['model']),
        usage: data['usage'] as Json,
        recorder: 'details',
        rateLimitWindow: !!a.rateLimit,
      });
    }
    respondAfterUsage(s, res, () => reply.json(200, openai));
  } catch (err) {
    if (!res.headersSent && !res.destroyed) {
      const status = (err as { status?: number }).status || 500;
      reply.json(status, { error: { message: (err as Error).message || 'Internal server error', type: 'server_error', code: 'internal_error' } });
    } else if (!res.writableEnded && !res.destroyed) res.end();
  }
}
