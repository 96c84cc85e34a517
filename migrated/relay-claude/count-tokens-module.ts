import type { MigratedModule, MigratedModuleFactory } from '../module.js';
import { hasPermission, permissionBodies } from '../auth/permissions.js';
import type { AuthSuccess } from '../auth/types.js';
import type { RouteCall } from '../routes/shared/legacy-route.js';
import { selectCcrAccount } from '../relay-ccr/ccr-select.js';
import { sessionHashOf } from '../scheduler/session-hash.js';
import { consoleNonStream } from './console-relay.js';
import { CONCURRENCY_FULL_BODY, parseJson, renderResult } from './legacy-render.js';
import { officialNonStream, type RelayResult } from './official-relay.js';
import type { RelayServices } from './relay-services.js';
import { relayModule } from './relay-module.js';
import { sanitizeUpstreamError } from './sanitize.js';
import { countTokensSessionCheck } from './session-binding.js';

/**
 * `claude-count-tokens`: POST /api/v1/messages/count_tokens, /claude/v1/messages/count_tokens
 * (relay-claude.md §6). No body validation (as the legacy); up to two scheduling attempts when
 * all console accounts are at their concurrency limit; console 404 → `{"input_tokens":0}` and the
 * account remembers that its endpoint has no count_tokens. Bedrock and CCR accounts (a `ccr,` model
 * is scheduled from the CCR pool, sticky mapping included) → 501 not_supported, no upstream call.
 */
export const createClaudeCountTokensModule: MigratedModuleFactory = (deps): MigratedModule => relayModule('claude-count-tokens', deps, handleCountTokens);

export default createClaudeCountTokensModule;

const FAILED = { error: { type: 'server_error', message: 'Failed to count tokens' } };

class HttpStatusError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly payload: Record<string, unknown>,
  ) {
    super(String((payload['error'] as { message?: string })?.message ?? 'error'));
  }
}

async function handleCountTokens(s: RelayServices, call: RouteCall, a: AuthSuccess): Promise<void> {
  const { res } = call;
  if (!hasPermission(a.key, 'claude')) {
    const r = permissionBodies.claudeCountTokens();
    call.reply().json(r.status, r.body);
    return;
  }
  const body = (call.body && typeof call.body === 'object' ? call.body : {}) as Record<string, unknown>;
  let sessionHash: string | null;
  try {
    sessionHash = sessionHashOf(body);
  } catch {
    call.reply().json(500, FAILED);
    return;
  }
  const refused = await countTokensSessionCheck(s, body);
  if (refused) {
    call.reply().json(refused.status, refused.body);
    return;
  }
  const model = typeof body['model'] === 'string' ? body['model'] : null;

  for (let attempt = 0; attempt < 2; attempt++) {
    const reply = call.reply();
    try {
      // `ccr,<model>` is scheduled from the CCR pool (mapping written) before the 501, as the legacy scheduler does
      const selected = (await selectCcrAccount(s, sessionHash, model)) ?? (await s.scheduler.select(a.key, sessionHash, model));
      if (selected.accountType === 'ccr' || selected.accountType === 'bedrock') {
        const what = selected.accountType === 'ccr' ? 'CCR' : 'Bedrock';
        throw new HttpStatusError(501, { error: { type: 'not_supported', message: `Token counting is not supported for ${what} accounts` } });
      }
      let result: RelayResult;
      const common = { s, key: a.key, clientHeaders: call.req.headers, body, accountId: selected.accountId, signal: call.ctx.signal, countTokens: true };
      if (selected.accountType === 'claude-console') {
        const account = await s.accounts.get('claude-console', selected.accountId);
        if (account?.['countTokensUnavailable'] === 'true') {
          if (!res.headersSent) reply.json(200, { input_tokens: 0 });
          return;
        }
        result = await consoleNonStream(common);
        if (result.status === 404) {
          await s.accounts
            .updateFields('claude-console', selected.accountId, {
              countTokensUnavailable: 'true',
              countTokensUnavailableAt: new Date(s.deps.clock.now()).toISOString(),
            })
            .catch(() => undefined);
          if (!res.headersSent) reply.json(200, { input_tokens: 0 });
          return;
        }
      } else {
        result = await officialNonStream({ ...common, sessionHash });
      }
      if (res.destroyed || res.writableEnded) return;
      let parsed = parseJson(result.body);
      if (parsed !== undefined && (result.status < 200 || result.status >= 300)) parsed = sanitizeUpstreamError(parsed);
      renderResult(reply, result, parsed);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'CONSOLE_ACCOUNT_CONCURRENCY_FULL') {
        if (attempt === 0) {
          await s.scheduler.clearMapping(sessionHash);
          continue;
        }
        if (!res.headersSent) reply.json(503, CONCURRENCY_FULL_BODY);
        else if (!res.writableEnded) res.end();
        return;
      }
      if (err instanceof HttpStatusError) {
        reply.json(err.httpStatus, err.payload);
        return;
      }
      if ((err as Error).message === 'Client disconnected') {
        if (!res.headersSent && !res.destroyed) {
          reply.headers.set('Content-Length', '0');
          reply.writeHead(499);
          res.end();
        }
        return;
      }
      if (!res.headersSent && !res.destroyed) reply.json(500, FAILED);
      else if (!res.writableEnded && !res.destroyed) res.end();
      return;
    }
  }
}
