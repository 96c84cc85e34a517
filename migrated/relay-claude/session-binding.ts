import type { RelayConfig } from '../auth/relay-config.js';
import { SchedulerError, type KeyBindings, type ScheduledAccount, type Selection } from '../scheduler/claude-scheduler.js';
import type { ReadAhead } from '../auth/key-read-ahead.js';
import { SessionBindings } from '../storage/sessions.js';
import type { RelayServices } from './relay-services.js';

/**
 * Global session binding (`claude_relay_config.globalSessionBindingEnabled`, claudeRelayConfigService +
 * api.js): a Claude Code session (`metadata.user_id` ending in `session_<uuid>`) is bound to the
 * official account its first request was scheduled on (`original_session_binding:<uuid>`, JSON
 * `{accountId, accountType, createdAt, lastUsedAt}`, EX sessionBindingTtlDays × 86400). Later
 * requests of the session must use that account (403 when it is unusable); a session seen for the
 * first time that already looks old (several turns) is refused with 400.
 *
 * Off (the default): one read of the cached relay config, nothing else.
 */

const DEFAULT_MESSAGE = '你的本地session已污染，请清理后使用。';

export interface Refusal {
  status: 400 | 403;
  body: { error: { type: 'session_binding_error'; message: unknown } };
}

const refusal = (status: 400 | 403, message: unknown): Refusal => ({ status, body: { error: { type: 'session_binding_error', message } } });
const configuredMessage = (cfg: RelayConfig): unknown => cfg['sessionBindingErrorMessage'] || DEFAULT_MESSAGE;
const ttlDays = (cfg: RelayConfig): number => Number(cfg['sessionBindingTtlDays']) || 30;

/** extractOriginalSessionId: the uuid after `session_` at the end of metadata.user_id (a non-string throws, as `.match` does). */
export function originalSessionId(body: Record<string, unknown>): string | null {
  const userId = (body['metadata'] as { user_id?: unknown } | undefined)?.user_id;
  if (!userId) return null;
  if (typeof userId !== 'string') throw new TypeError('userId.match is not a function');
  return /session_([a-f0-9-]{36})$/i.exec(userId)?.[1] ?? null;
}

/**
 * isOldSession (api.js): more than one message; or one message whose content is a string and no
 * tools; or whose content array has more than one text block not starting with `<system-reminder>`,
 * or exactly one and no tools (a "warmup").
 */
export function isOldSession(body: Record<string, unknown>): boolean {
  const messages = body['messages'] as Array<{ content?: unknown }> | undefined;
  const tools = body['tools'] as unknown[] | undefined;
  if (!messages || messages.length === 0) return false;
  if (messages.length > 1) return true;
  const content = messages[0]?.content;
  if (!content) return false;
  const noTools = !tools || tools.length === 0;
  if (typeof content === 'string') return noTools;
  if (!Array.isArray(content)) return false;
  // item.type on a null item throws, as in the legacy
  const inputs = content.filter((item: { type?: unknown; text?: unknown }) => item.type === 'text' && !String(item.text || '').trimStart().startsWith('<system-reminder>'));
  return inputs.length > 1 || (inputs.length === 1 && noTools);
}

type Validation = { valid: false; message: unknown } | { valid: true; binding?: ScheduledAccount; isNewSession?: boolean };

/** validateNewSession (binding enabled, session id present). */
async function validate(s: RelayServices, cfg: RelayConfig, sessionId: string): Promise<Validation> {
  const bindings = new SessionBindings(s.redis(), s.deps.clock);
  // getOriginalSessionBinding: a read error counts as "no binding"
  const existing = await bindings.get(sessionId).catch(() => null);
  if (!existing) return { valid: true, isNewSession: true };
  // only claude-official bindings are enforced
  if (existing.accountType !== 'claude-official') return { valid: true };
  if (!(await boundAccountUsable(s, existing.accountId))) return { valid: false, message: cfg['sessionBindingErrorMessage'] };
  await bindings.touch(sessionId, ttlDays(cfg)).catch((err: unknown) => s.deps.log.warn({ err }, 'session binding touch failed'));
  return { valid: true, binding: { accountId: existing.accountId, accountType: 'claude-official' } };
}

/** validateBoundAccount for claude-official: the hash exists, isActive is not false, status is not `error`. */
async function boundAccountUsable(s: RelayServices, accountId: string): Promise<boolean> {
  if (!accountId) return false;
  try {
    const account = await s.accounts.get('claude', accountId);
    if (!account) return false;
    if (account['isActive'] === 'false') return false;
    return account['status'] !== 'error';
  } catch {
    return false;
  }
}

export interface BoundScheduling {
  selection?: Selection;
  refused?: Refusal;
}

/**
 * The binding steps of api.js around the scheduler for /v1/messages: check, schedule (forced to the
 * bound account when there is one), create the binding for a new session scheduled on an official
 * account. `schedule` is the route's ordinary scheduling call.
 *
 * With a forced account the legacy official relay schedules a second time WITHOUT it and relays on
 * that pick (sticky mapping / dedicated / pool), so the returned selection is that second pick.
 */
export async function scheduleWithSessionBinding(
  s: RelayServices,
  key: KeyBindings,
  body: Record<string, unknown>,
  sessionHash: string | null,
  model: string | null,
  schedule: () => Promise<Selection>,
  readAhead?: ReadAhead,
): Promise<BoundScheduling> {
  const cfg = await s.relayConfig.get();
  if (cfg['globalSessionBindingEnabled'] !== true) return { selection: await schedule() };
  let forced: ScheduledAccount | null = null;
  let newSessionId: string | null = null;
  try {
    const sessionId = originalSessionId(body);
    if (sessionId) {
      const v = await validate(s, cfg, sessionId);
      if (!v.valid) return { refused: refusal(403, v.message) };
      if (v.binding) forced = v.binding;
      if (v.isNewSession) newSessionId = sessionId;
    }
  } catch (err) {
    s.deps.log.error({ err }, 'global session binding check failed'); // the request goes on, as in the legacy
  }
  let selection: Selection;
  if (forced) {
    try {
      await s.scheduler.select(key, sessionHash, model, forced, readAhead);
    } catch (err) {
      if (err instanceof SchedulerError && err.code === 'SESSION_BINDING_ACCOUNT_UNAVAILABLE') return { refused: refusal(403, configuredMessage(cfg)) };
      throw err;
    }
    const relayPick = await schedule();
    // claudeRelayService relays whatever its own pick returned as an official account
    selection = relayPick.accountType === 'claude-official' ? relayPick : { accountId: relayPick.accountId, accountType: 'claude-official' };
  } else selection = await schedule();
  if (newSessionId && selection.accountType === 'claude-official') {
    if (isOldSession(body)) return { refused: refusal(400, configuredMessage(cfg)) };
    await new SessionBindings(s.redis(), s.deps.clock)
      .set(newSessionId, selection.accountId, selection.accountType, ttlDays(cfg))
      .catch((err: unknown) => s.deps.log.warn({ err }, 'session binding create failed'));
  }
  return { selection };
}

/**
 * count_tokens (api.js): validateNewSession is always called (it answers "valid" when the feature is
 * off); an invalid binding or an old-looking new session is refused with 400. No binding is created
 * and the bound account is not forced.
 */
export async function countTokensSessionCheck(s: RelayServices, body: Record<string, unknown>): Promise<Refusal | null> {
  const sessionId = originalSessionId(body);
  const cfg = await s.relayConfig.get();
  if (!cfg['globalSessionBindingEnabled'] || !sessionId) return null;
  const v = await validate(s, cfg, sessionId);
  if (!v.valid) return refusal(400, v.message);
  if (v.isNewSession && isOldSession(body)) return refusal(400, configuredMessage(cfg));
  return null;
}
