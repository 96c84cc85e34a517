import type { RelayServices } from '../relay-claude/relay-services.js';
import { SchedulerError, sortCandidates, type Selection } from '../scheduler/claude-scheduler.js';
import { parseVendorPrefixedModel } from '../scheduler/model-support.js';
import { ccrAccountOf, ccrSupportsModel, loadCcrAccount, subscriptionExpired } from './ccr-account.js';
import { CcrMarks } from './ccr-marks.js';
import { ccrQuotaOf, type CcrQuota } from './ccr-quota.js';

/** The scheduler's Selection shape (accountType 'ccr', no snapshot). */
export type CcrSelection = Selection & { accountType: 'ccr' };

/** Parsed like getAllAccounts' summaries: supportedModels kept only when it is a JSON array. */
function listedModels(raw: string | undefined): unknown[] {
  try {
    const v: unknown = JSON.parse(raw || '[]');
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

/**
 * unifiedClaudeScheduler._selectCcrAccount, for requests whose model has the `ccr,` vendor
 * prefix (returns null for any other model: the Claude scheduler decides those). Sticky mapping
 * first (only a mapping of type `ccr`, re-validated, TTL renewed), then the shared CCR pool
 * (active, status active, shared, schedulable, model allowed, not rate-limited / over its daily
 * quota / overloaded) by priority and least-recent use; the choice is written as the session mapping.
 * Quirks kept: the pool reads supportedModels like getAllAccounts (a mapping object counts as
 * "all models") and does not check subscription expiry; the sticky re-check does both.
 */
export async function selectCcrAccount(s: RelayServices, sessionHash: string | null, requestedModel: string | null): Promise<CcrSelection | null> {
  const { vendor, baseModel } = parseVendorPrefixedModel(requestedModel);
  if (vendor !== 'ccr') return null;
  const model = baseModel;
  const marks = new CcrMarks(s.redis(), s.deps.clock);
  const quota = ccrQuotaOf(s);
  if (sessionHash) {
    const mapped = await s.sticky.get('claude', sessionHash);
    if (mapped && mapped.accountType === 'ccr') {
      if (await stickyAvailable(s, marks, quota, mapped.accountId, model)) {
        await s.sticky.extend('claude', sessionHash);
        return { accountId: mapped.accountId, accountType: 'ccr' };
      }
      await s.sticky.delete('claude', sessionHash);
    }
  }
  const pool: Array<{ accountId: string; priority: number; lastUsedAt: string }> = [];
  for (const raw of await s.accounts.list('ccr')) {
    const a = ccrAccountOf(raw, raw['id'] ?? '', '');
    const status = raw['status'] || 'active';
    const accountType = raw['accountType'] || 'shared';
    if (!(a.isActive && status === 'active' && accountType === 'shared' && a.schedulable)) continue;
    if (!ccrSupportsModel(listedModels(raw['supportedModels']), model)) continue;
    // all three asked, in this order (the first two can write: lift an expired rate limit, mark the quota)
    const rateLimited = await marks.isRateLimited(a.id);
    const overQuota = await quota.isQuotaExceeded(a.id, raw);
    const overloaded = await marks.isOverloaded(a.id);
    if (rateLimited || overQuota || overloaded) continue;
    pool.push({ accountId: a.id, priority: a.priority, lastUsedAt: raw['lastUsedAt'] || '0' });
  }
  if (pool.length === 0) throw new SchedulerError(`No available CCR accounts support the requested model: ${model || 'unspecified'}`, 'NO_ACCOUNT');
  const chosen = sortCandidates(pool)[0]!;
  if (sessionHash) await s.sticky.set('claude', sessionHash, chosen.accountId, 'ccr');
  return { accountId: chosen.accountId, accountType: 'ccr' };
}

/** _isAccountAvailable for a CCR mapping (the quota check may reset or stop the account first). */
async function stickyAvailable(s: RelayServices, marks: CcrMarks, quota: CcrQuota, id: string, model: string): Promise<boolean> {
  const a = await loadCcrAccount(s, id);
  if (!a || !a.isActive) return false;
  if (a.status !== 'active' && a.status !== 'unauthorized' && a.status !== 'overloaded') return false;
  if (!a.schedulable) return false;
  if (!ccrSupportsModel(a.supportedModels, model)) return false;
  if (subscriptionExpired(a.subscriptionExpiresAt, s.deps.clock.now())) return false;
  await quota.checkQuotaUsage(id, a.raw);
  if (await marks.isRateLimited(id)) return false;
  if (await quota.isQuotaExceeded(id, a.raw)) return false;
  if (a.status === 'unauthorized') return false;
  return !(await marks.isOverloaded(id));
}
