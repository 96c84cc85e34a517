import { hash } from 'node:crypto';
import { CLAUDE_CODE_PROMPT, isRealClaudeCodeRequest } from './claude-code-detect.js';

/** Output-token limit of a model from the pricing table (max_tokens || max_output_tokens), if any. */
export type MaxTokensLimit = (model: string) => number | undefined;

export interface OfficialAccountFields {
  id: string;
  useUnifiedClientId?: string | undefined;
  unifiedClientId?: string | undefined;
  /** JSON string with an optional `account_uuid`. */
  extInfo?: string | undefined;
}

type Json = Record<string, unknown>;

const MAX_CACHE_CONTROL_BLOCKS = 4;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The official-account body pipeline (relay-claude.md §4.2, steps 1–9), returning a new object.
 * Order matters and is the legacy's: clamp, TTL strip, Claude Code prompt, cache_control limit,
 * empty system removal, top_p removal, unified client id, metadata.user_id identity rewrite.
 */
export function transformOfficialBody(
  clientBody: Json,
  account: OfficialAccountFields,
  maxTokensLimit: MaxTokensLimit,
  extraSystemPrompt?: string,
): Json {
  const body = JSON.parse(JSON.stringify(clientBody)) as Json;
  clampMaxTokens(body, maxTokensLimit);
  stripCacheControlTtl(body);
  if (!isRealClaudeCodeRequest(body)) injectClaudeCodePrompt(body);
  enforceCacheControlLimit(body);
  if (extraSystemPrompt && extraSystemPrompt.trim()) {
    if (Array.isArray(body['system'])) {
      const list = body['system'] as unknown[];
      if (!list.some((i) => isObject(i) && i['text'] && i['text'] === extraSystemPrompt)) {
        list.push({ type: 'text', text: extraSystemPrompt });
      }
    } else body['system'] = [{ type: 'text', text: extraSystemPrompt }];
  } else if (Array.isArray(body['system'])) {
    const hasText = (body['system'] as unknown[]).some(
      (i) => isObject(i) && typeof i['text'] === 'string' && i['text'].trim() !== '',
    );
    if (!hasText) delete body['system'];
  }
  if (body['top_p'] !== undefined && body['top_p'] !== null) delete body['top_p'];
  if (account.useUnifiedClientId === 'true' && account.unifiedClientId) replaceClientId(body, account.unifiedClientId);
  rewriteSessionUserId(body, account);
  return body;
}

export function clampMaxTokens(body: Json, maxTokensLimit: MaxTokensLimit): void {
  if (!body['max_tokens']) return;
  const model = (body['model'] as string | undefined) || 'claude-sonnet-4-20250514';
  const limit = maxTokensLimit(String(model));
  if (!limit) return;
  if ((body['max_tokens'] as number) > limit) body['max_tokens'] = limit;
}

export function stripCacheControlTtl(body: Json): void {
  const strip = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      if (isObject(item) && isObject(item['cache_control']) && item['cache_control']['ttl']) {
        delete item['cache_control']['ttl'];
      }
    }
  };
  strip(body['system']);
  if (Array.isArray(body['messages'])) for (const m of body['messages']) if (isObject(m)) strip(m['content']);
}

function promptBlock(): Json {
  return { type: 'text', text: CLAUDE_CODE_PROMPT, cache_control: { type: 'ephemeral' } };
}

function isPromptItem(item: unknown): boolean {
  return isObject(item) && item['type'] === 'text' && item['text'] === CLAUDE_CODE_PROMPT;
}

export function injectClaudeCodePrompt(body: Json): void {
  const system = body['system'];
  if (!system) {
    body['system'] = [promptBlock()];
  } else if (typeof system === 'string') {
    body['system'] = system.trim() === CLAUDE_CODE_PROMPT ? [promptBlock()] : [promptBlock(), { type: 'text', text: system }];
  } else if (Array.isArray(system)) {
    if (!isPromptItem(system[0])) body['system'] = [promptBlock(), ...system.filter((i) => !isPromptItem(i))];
  } else {
    body['system'] = [promptBlock()];
  }
}

export function enforceCacheControlLimit(body: Json): void {
  const carriers = (): Json[] => {
    const out: Json[] = [];
    if (Array.isArray(body['messages'])) {
      for (const m of body['messages']) {
        if (isObject(m) && Array.isArray(m['content'])) for (const i of m['content']) if (isObject(i) && i['cache_control']) out.push(i);
      }
    }
    return out;
  };
  const systemCarriers = (): Json[] =>
    Array.isArray(body['system']) ? (body['system'] as unknown[]).filter((i): i is Json => isObject(i) && !!i['cache_control']) : [];
  let total = carriers().length + systemCarriers().length;
  while (total > MAX_CACHE_CONTROL_BLOCKS) {
    const first = carriers()[0] ?? systemCarriers()[0];
    if (!first) break;
    delete first['cache_control'];
    total--;
  }
}

export function replaceClientId(body: Json, unifiedClientId: string): void {
  const metadata = body['metadata'];
  if (!isObject(metadata) || typeof metadata['user_id'] !== 'string') return;
  const m = /^user_[a-f0-9]{64}(_account__session_[a-f0-9-]{36})$/.exec(metadata['user_id']);
  if (m) metadata['user_id'] = `user_${unifiedClientId}${m[1]}`;
}

/** UUID-v4-shaped digest of sha256("<accountId>::<tail>") (requestIdentityService). */
export function sessionUuid(accountId: string, tail: string): string {
  const b = hash('sha256', `${accountId}::${tail}`, 'buffer').subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function accountUuidOf(extInfo: string | undefined): string | null {
  if (!extInfo) return null;
  try {
    const parsed = JSON.parse(extInfo) as unknown;
    const uuid = isObject(parsed) ? parsed['account_uuid'] : undefined;
    return typeof uuid === 'string' && uuid.trim() ? uuid.trim() : null;
  } catch {
    return null;
  }
}

/** metadata.user_id `…session_<tail>` → `…session_<sessionUuid(accountId, tail)>` with the account uuid folded in. */
export function rewriteSessionUserId(body: Json, account: OfficialAccountFields): void {
  const metadata = body['metadata'];
  if (!isObject(metadata)) return;
  const userId = metadata['user_id'];
  if (typeof userId !== 'string' || !userId.includes('session_')) return;
  const at = userId.lastIndexOf('session_');
  const tail = userId.slice(at + 'session_'.length) || 'default';
  let prefix = userId.slice(0, at);
  const accountUuid = accountUuidOf(account.extInfo);
  if (accountUuid) {
    const marker = '_account_';
    const idx = prefix.indexOf(marker);
    if (idx === -1) {
      const base = prefix.replace(/_+$/, '');
      prefix = `${/_account$/.test(base) ? base : `${base}_account`}_${accountUuid}_`;
    } else {
      const start = idx + marker.length;
      const sep = prefix.indexOf('_', start);
      let rest = sep === -1 ? '_' : prefix.slice(sep);
      if (/^_+$/.test(rest)) rest = '_';
      prefix = `${prefix.slice(0, start)}${accountUuid}${rest}`;
    }
  }
  const next = `${prefix}session_${sessionUuid(account.id, tail)}`;
  if (next === userId) return;
  body['metadata'] = { ...metadata, user_id: next };
}

/** Console accounts: only the model is mapped (relay-claude.md §5.1 step 5–6). */
export function mapConsoleModel(model: unknown, supportedModels: unknown): unknown {
  if (typeof model !== 'string' || !isObject(supportedModels)) return model;
  if (Object.prototype.hasOwnProperty.call(supportedModels, model)) return supportedModels[model];
  const lower = model.toLowerCase();
  for (const [key, value] of Object.entries(supportedModels)) if (key.toLowerCase() === lower) return value;
  return model;
}

export function transformConsoleBody(clientBody: Json, supportedModels: unknown): Json {
  return { ...clientBody, model: mapConsoleModel(clientBody['model'], supportedModels) };
}
