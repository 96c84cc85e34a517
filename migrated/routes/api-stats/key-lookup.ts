import type { Clock } from '../../runtime/clock.js';
import { dateString, effectiveOffsetHours } from '../../storage/keys.js';
import type { RouteCall } from '../shared/legacy-route.js';

/** Shared request checks of the /apiStats endpoints (src/routes/apiStats.js). */
export const UUID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/i;

export function bodyField(call: RouteCall, name: string): unknown {
  const b = call.body;
  return b && typeof b === 'object' ? (b as Record<string, unknown>)[name] : undefined;
}

export const errors = {
  invalidApiId: { status: 400, body: { error: 'Invalid API ID format', message: 'API ID must be a valid UUID' } },
  keyIdNotFound: { status: 404, body: { error: 'API key not found', message: 'The specified API key does not exist' } },
  disabledById: (name: string | undefined) => ({
    status: 403,
    body: { error: 'API key is disabled', message: `API Key "${name || 'Unknown'}" 已被禁用`, keyName: name || 'Unknown' },
  }),
  invalidFormat: { status: 400, body: { error: 'Invalid API key format', message: 'API key format is invalid' } },
  invalidKey: (message: string) => ({ status: 401, body: { error: 'Invalid API key', message } }),
  keyOrIdRequired: { status: 400, body: { error: 'API Key or ID is required', message: 'Please provide your API Key or API ID' } },
};

/**
 * Which per-model usage keys a stats query reads: `usage:<id>:model:daily:*:<today>` or
 * `…:monthly:*:<month>`, and the regex that extracts the model. Quirk kept: the month is read
 * with LOCAL getters from the offset-shifted instant (legacy getDateInTimezone + getFullYear).
 */
export function modelStatsScope(clock: Clock, period: unknown): { daily: boolean; pattern: (keyId: string) => string; re: RegExp } {
  const now = clock.now();
  const today = dateString(now, clock.timezoneOffsetHours);
  const shifted = new Date(now + effectiveOffsetHours(clock.timezoneOffsetHours) * 3_600_000);
  const month = `${shifted.getFullYear()}-${String(shifted.getMonth() + 1).padStart(2, '0')}`;
  const daily = period === 'daily';
  return {
    daily,
    pattern: (keyId) => (daily ? `usage:${keyId}:model:daily:*:${today}` : `usage:${keyId}:model:monthly:*:${month}`),
    re: daily ? /usage:.+:model:daily:(.+):\d{4}-\d{2}-\d{2}$/ : /usage:.+:model:monthly:(.+):\d{4}-\d{2}$/,
  };
}
