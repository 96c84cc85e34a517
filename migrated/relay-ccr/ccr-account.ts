import type { RelayServices } from '../relay-claude/relay-services.js';
import type { AccountHash } from '../storage/accounts.js';

/**
 * CCR accounts as ccrAccountService reads them (hash `ccr_account:<id>`, PG fallback):
 * `apiKey` decrypted (salt `ccr-account-salt`; undecryptable → stored text), `supportedModels`
 * parsed (array = allow-list, object = mapping), numbers/booleans as the legacy derives them.
 */
export interface CcrAccount {
  id: string;
  raw: AccountHash;
  apiUrl: string;
  apiKey: string;
  userAgent: string;
  supportedModels: unknown;
  isActive: boolean;
  schedulable: boolean;
  status: string;
  priority: number;
  subscriptionExpiresAt: string;
  proxy: string | undefined;
}

export function parseModels(raw: string | undefined): unknown {
  try {
    return JSON.parse(raw || '[]') as unknown;
  } catch {
    return [];
  }
}

export function ccrAccountOf(raw: AccountHash, id: string, apiKey: string): CcrAccount {
  return {
    id: raw['id'] ?? id,
    raw,
    apiUrl: raw['apiUrl'] ?? '',
    apiKey,
    userAgent: raw['userAgent'] ?? '',
    supportedModels: parseModels(raw['supportedModels']),
    isActive: raw['isActive'] === 'true',
    schedulable: raw['schedulable'] !== 'false',
    status: raw['status'] ?? '',
    priority: Number.parseInt(raw['priority'] ?? '', 10) || 50,
    subscriptionExpiresAt: raw['subscriptionExpiresAt'] ?? '',
    proxy: raw['proxy'] || undefined,
  };
}

export async function loadCcrAccount(s: RelayServices, id: string): Promise<CcrAccount | null> {
  const raw = await s.accounts.get('ccr', id);
  if (!raw) return null;
  return ccrAccountOf(raw, id, s.cipher.decrypt('ccr', raw['apiKey']));
}

const isMapping = (m: unknown): m is Record<string, unknown> => !!m && typeof m === 'object' && !Array.isArray(m);

/** ccrAccountService.isModelSupported on a mapping: empty → all; exact key; case-insensitive key. */
function mappingHas(mapping: Record<string, unknown>, model: string): boolean {
  const keys = Object.keys(mapping);
  if (keys.length === 0 || Object.prototype.hasOwnProperty.call(mapping, model)) return true;
  const lower = model.toLowerCase();
  return keys.some((k) => k.toLowerCase() === lower);
}

/** The scheduler's CCR model check: array = allow-list (exact), object = mapping keys. */
export function ccrSupportsModel(supportedModels: unknown, model: string | null): boolean {
  if (!supportedModels) return true;
  if (Array.isArray(supportedModels)) return supportedModels.length === 0 || supportedModels.includes(model);
  if (isMapping(supportedModels)) return Object.keys(supportedModels).length === 0 || (typeof model === 'string' && mappingHas(supportedModels, model));
  return true;
}

/** getMappedModel, applied only when supportedModels is a mapping object. */
export function ccrMappedModel(supportedModels: unknown, model: string): string {
  if (!isMapping(supportedModels) || Object.keys(supportedModels).length === 0) return model;
  const exact = supportedModels[model];
  if (exact) return exact as string;
  const lower = model.toLowerCase();
  for (const [k, v] of Object.entries(supportedModels)) if (k.toLowerCase() === lower) return v as string;
  return model;
}

export function subscriptionExpired(expiresAt: string, nowMs: number): boolean {
  if (!expiresAt) return false;
  return new Date(expiresAt).getTime() <= nowMs;
}
