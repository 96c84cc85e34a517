import type { AuthenticatedKey } from './types.js';

/**
 * Per-service permission and model-restriction checks the legacy's route handlers run after
 * authentication (auth-and-keys.md §4). Each returns null (allowed) or `{status, body}`.
 */
export type Service = 'claude' | 'gemini' | 'openai' | 'droid';

export interface RouteRejection {
  status: number;
  body: Record<string, unknown>;
}

/** permissions is 'all' or the service itself (an empty stored value reads as 'all'). */
export function hasPermission(key: Pick<AuthenticatedKey, 'permissions'>, service: Service): boolean {
  return !key.permissions || key.permissions === 'all' || key.permissions === service;
}

const SERVICE_TITLE: Record<Service, string> = { claude: 'Claude', gemini: 'Gemini', openai: 'OpenAI', droid: 'Droid' };

/** The permission rejection bodies, by the shape each route family uses. */
export const permissionBodies = {
  /** /api|/claude …/v1/messages */
  claudeMessages: (): RouteRejection => ({ status: 403, body: { error: { type: 'permission_error', message: '此 API Key 无权访问 Claude 服务' } } }),
  /** …/v1/messages/count_tokens */
  claudeCountTokens: (): RouteRejection => ({
    status: 403,
    body: { error: { type: 'permission_error', message: 'This API key does not have permission to access Claude' } },
  }),
  /** /openai/claude/*, unified chat, /openai/responses*, /openai/gemini/* */
  openaiStyle: (service: Service): RouteRejection => ({
    status: 403,
    body: {
      error: {
        message: `This API key does not have permission to access ${SERVICE_TITLE[service]}`,
        type: 'permission_denied',
        code: 'permission_denied',
      },
    },
  }),
  /** /gemini/* native routes (no `code`). */
  geminiNative: (): RouteRejection => ({
    status: 403,
    body: { error: { message: 'This API key does not have permission to access Gemini', type: 'permission_denied' } },
  }),
  droid: (): RouteRejection => ({ status: 403, body: { error: 'permission_denied', message: '此 API Key 未启用 Droid 权限' } }),
};

/** modelHelper.getEffectiveModel: strip a case-insensitive `ccr,` vendor prefix, trim. */
export function effectiveModel(model: unknown): string {
  if (!model || typeof model !== 'string') return typeof model === 'string' ? model : '';
  const trimmed = model.trim();
  if (trimmed.toLowerCase().startsWith('ccr,')) {
    const parts = trimmed.split(',');
    if (parts.length >= 2) return parts.slice(1).join(',').trim();
  }
  return trimmed;
}

const restrictionActive = (key: Pick<AuthenticatedKey, 'enableModelRestriction' | 'restrictedModels'>) =>
  key.enableModelRestriction && Array.isArray(key.restrictedModels) && key.restrictedModels.length > 0;

/** Claude routes: restrictedModels is a blacklist of effective model ids. */
export function isModelBlacklisted(key: Pick<AuthenticatedKey, 'enableModelRestriction' | 'restrictedModels'>, model: unknown): boolean {
  return restrictionActive(key) && key.restrictedModels.includes(effectiveModel(model));
}

/** /openai/gemini routes: restrictedModels is a whitelist (the model must be listed). */
export function isModelWhitelistedOut(key: Pick<AuthenticatedKey, 'enableModelRestriction' | 'restrictedModels'>, model: string): boolean {
  return restrictionActive(key) && !key.restrictedModels.includes(model);
}

/** Model lists: drop blacklisted ids (Claude-style lists). */
export function filterBlacklisted<T extends { id: string }>(key: Pick<AuthenticatedKey, 'enableModelRestriction' | 'restrictedModels'>, models: T[]): T[] {
  if (!restrictionActive(key)) return models;
  return models.filter((m) => !key.restrictedModels.includes(m.id));
}

export const modelBodies = {
  /** /v1/messages blacklisted model */
  claudeForbidden: (): RouteRejection => ({ status: 403, body: { error: { type: 'forbidden', message: '暂无该模型访问权限' } } }),
  /** /openai/claude chat and /openai/gemini chat */
  openaiNotAllowed: (model: string): RouteRejection => ({
    status: 403,
    body: { error: { message: `Model ${model} is not allowed for this API key`, type: 'invalid_request_error', code: 'model_not_allowed' } },
  }),
  /** /openai/claude/v1/models/:model when blacklisted */
  openaiModelNotFound: (id: string): RouteRejection => ({
    status: 404,
    body: { error: { message: `Model '${id}' not found`, type: 'invalid_request_error', code: 'model_not_found' } },
  }),
};
