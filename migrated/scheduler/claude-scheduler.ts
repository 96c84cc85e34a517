import type { Redis } from 'ioredis';
import type { ReadAhead, PlannedRead } from '../auth/key-read-ahead.js';
import type { AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';
import type { StickySessions } from '../storage/sessions.js';
import type { Clock } from '../runtime/clock.js';
import {
  consoleConcurrency,
  consoleOverloaded,
  consoleRateLimited,
  consoleSubscriptionExpired,
  consoleView,
  getConsole,
  isSchedulable,
  isTempUnavailable,
  officialOpusLimited,
  officialRateLimited,
  bedrockView,
  type ConsoleAccount,
  type RawHash,
} from './account-state.js';
import { ConsoleAccountState } from './console-quota.js';
import { consoleSupportsModel, lastUsedOrderKey, officialSupportsModel, parseVendorPrefixedModel } from './model-support.js';

export type ClaudeAccountType = 'claude-official' | 'claude-console' | 'bedrock' | 'ccr';

export interface ScheduledAccount {
  accountId: string;
  accountType: ClaudeAccountType;
}

/** A scheduling result; `snapshot` is the account hash the decision was made on, when one was read (saves the relay a re-read). */
export interface Selection extends ScheduledAccount {
  snapshot?: RawHash;
}

/** The API-key fields the scheduler reads. */
export interface KeyBindings {
  name?: string;
  claudeAccountId?: string | undefined;
  claudeConsoleAccountId?: string | undefined;
  bedrockAccountId?: string | undefined;
}

export type SchedulerErrorCode = 'CLAUDE_DEDICATED_RATE_LIMITED' | 'CONSOLE_ACCOUNT_CONCURRENCY_FULL' | 'SESSION_BINDING_ACCOUNT_UNAVAILABLE' | 'NO_ACCOUNT';

export class SchedulerError extends Error {
  constructor(
    message: string,
    readonly code: SchedulerErrorCode,
    readonly accountId?: string,
    readonly rateLimitEndAt?: string | null,
  ) {
    super(message);
  }
}

export interface SchedulerDeps {
  redis: Redis;
  clock: Clock;
  accounts: AccountRepository;
  /** Built with STICKY_SESSION_TTL_HOURS / STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES. */
  sticky: StickySessions;
  /** Console quota / block state (default: blocks not handled, CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES 0). */
  consoleState?: ConsoleAccountState;
}

interface Candidate extends ScheduledAccount {
  priority: number;
  lastUsedAt: string;
}

/**
 * The unified Claude scheduler (scheduling.md §2): forced binding → dedicated bindings → sticky
 * session → shared pool sorted by priority then least-recently-used. Called once per request;
 * the legacy's second (inner) call for official accounts lands on the sticky mapping the first
 * one wrote, so one call gives the same account and the same Redis writes.
 */
export class ClaudeScheduler {
  private readonly redis: Redis;
  private readonly clock: Clock;
  private readonly accounts: AccountRepository;
  private readonly sticky: StickySessions;
  private readonly consoleState: ConsoleAccountState;

  constructor(deps: SchedulerDeps) {
    this.redis = deps.redis;
    this.clock = deps.clock;
    this.accounts = deps.accounts;
    this.sticky = deps.sticky;
    this.consoleState = deps.consoleState ?? new ConsoleAccountState({ redis: deps.redis, clock: deps.clock, accounts: deps.accounts, blockedMinutes: 0 });
  }

  async select(
    key: KeyBindings,
    sessionHash: string | null,
    requestedModel: string | null,
    forced?: ScheduledAccount | null,
    readAhead?: ReadAhead,
  ): Promise<Selection> {
    const now = this.clock.now();
    if (forced?.accountId && forced.accountType === 'claude-official') {
      if (await this.availableForBinding(forced.accountId, now)) return { accountId: forced.accountId, accountType: forced.accountType };
      throw new SchedulerError('Session binding account unavailable', 'SESSION_BINDING_ACCOUNT_UNAVAILABLE', forced.accountId);
    }

    const { vendor, baseModel } = parseVendorPrefixedModel(requestedModel);
    const model = vendor === 'ccr' ? baseModel : requestedModel;
    const isOpus = typeof model === 'string' && model.toLowerCase().includes('opus');
    if (vendor === 'ccr') throw new SchedulerError(`No available CCR accounts support the requested model: ${model || 'unspecified'}`, 'NO_ACCOUNT');

    // Dedicated OAuth binding / group
    if (key.claudeAccountId) {
      if (key.claudeAccountId.startsWith('group:')) {
        return this.selectFromGroup(key.claudeAccountId.slice('group:'.length), sessionHash, model, now);
      }
      // one round trip for the hash and the temp-unavailable flag (PG fallback when the hash is absent)
      const boundKey = key.claudeAccountId;
      const res = await this.hashAndTemp(keys.account('claude', boundKey), keys.tempUnavailable('claude-official', boundKey), readAhead);
      const fromRedis = (res?.[0]?.[1] ?? {}) as RawHash;
      const bound = Object.keys(fromRedis).length ? fromRedis : await this.accounts.get('claude', boundKey);
      if (bound && bound['isActive'] === 'true' && bound['status'] !== 'error') {
        const boundId = bound['id'] ?? boundKey;
        const temp = boundId === boundKey ? Number(res?.[1]?.[1] ?? 0) === 1 : await isTempUnavailable(this.redis, 'claude-official', boundId);
        if (!temp) {
          if (await officialRateLimited(this.redis, this.accounts, boundId, now, bound)) throw this.dedicatedLimited(boundId, bound);
          if (isSchedulable(bound['schedulable'])) {
            if (isOpus) await officialOpusLimited(this.redis, this.accounts, boundId, now, bound);
            return { accountId: boundKey, accountType: 'claude-official', snapshot: bound };
          }
        }
      }
    }

    // Dedicated Console binding
    if (key.claudeConsoleAccountId) {
      // one round trip for the hash and the temp-unavailable flag (PG fallback when the hash is absent)
      const id = key.claudeConsoleAccountId;
      const res = await this.hashAndTemp(keys.account('claude-console', id), keys.tempUnavailable('claude-console', id), readAhead);
      const fromRedis = (res?.[0]?.[1] ?? {}) as RawHash;
      const raw = Object.keys(fromRedis).length ? fromRedis : await this.accounts.get('claude-console', id);
      const c = raw ? consoleView(raw, id, false) : null;
      if (c && c.isActive && c.status === 'active' && c.schedulable) {
        const tempId = c.raw['id'] ?? c.id;
        const temp = tempId === id ? Number(res?.[1]?.[1] ?? 0) === 1 : await isTempUnavailable(this.redis, 'claude-console', tempId);
        if (!temp) return { accountId: id, accountType: 'claude-console', snapshot: c.raw };
      }
    }

    // Dedicated Bedrock binding
    if (key.bedrockAccountId) {
      const b = bedrockView(await this.accounts.getBedrock(key.bedrockAccountId));
      if (b && b.isActive && isSchedulable(b.schedulable) && !(await isTempUnavailable(this.redis, 'bedrock', key.bedrockAccountId))) {
        return { accountId: key.bedrockAccountId, accountType: 'bedrock' };
      }
    }

    // Sticky session
    if (sessionHash) {
      const mapped = await this.getMapping(sessionHash);
      if (mapped) {
        if (mapped.accountType === 'ccr') {
          await this.sticky.delete('claude', sessionHash);
        } else if (await this.isAvailable(mapped, model, now)) {
          await this.extendMapping(sessionHash);
          return mapped;
        } else {
          await this.sticky.delete('claude', sessionHash);
        }
      }
    }

    const pool = await this.pool(key, model, isOpus, now);
    if (pool.length === 0) {
      throw new SchedulerError(
        model ? `No available Claude accounts support the requested model: ${model}` : 'No available Claude accounts (neither official nor console)',
        'NO_ACCOUNT',
      );
    }
    const chosen = sortCandidates(pool)[0]!;
    if (sessionHash) await this.setMapping(sessionHash, chosen);
    return { accountId: chosen.accountId, accountType: chosen.accountType };
  }

  /** DEL unified_claude_session_mapping:<hash> (account marks, console concurrency retry). */
  async clearMapping(sessionHash: string | null): Promise<void> {
    if (sessionHash) await this.sticky.delete('claude', sessionHash);
  }

  // ------------------------------------------------------------------ internals

  /** HGETALL account + EXISTS temp flag: from the auth step's read-ahead when it has both, else one pipeline. */
  private async hashAndTemp(hashKey: string, tempKey: string, readAhead?: ReadAhead): Promise<Array<[Error | null, unknown]> | null> {
    if (readAhead?.has('hgetall', hashKey) && readAhead.has('exists', tempKey)) {
      return [
        [null, readAhead.get('hgetall', hashKey)],
        [null, readAhead.get('exists', tempKey)],
      ];
    }
    return this.redis.pipeline().hgetall(hashKey).exists(tempKey).exec();
  }

  private dedicatedLimited(id: string, account: RawHash): SchedulerError {
    return new SchedulerError('Dedicated Claude account is rate limited', 'CLAUDE_DEDICATED_RATE_LIMITED', id, account['rateLimitEndAt'] || null);
  }

  private async pool(key: KeyBindings, model: string | null, isOpus: boolean, now: number): Promise<Candidate[]> {
    const redis = this.redis;
    // bindings re-evaluated (each may short-circuit)
    if (key.claudeAccountId && !key.claudeAccountId.startsWith('group:')) {
      const b = await this.accounts.get('claude', key.claudeAccountId);
      if (b && b['isActive'] === 'true' && !['error', 'blocked', 'temp_error'].includes(b['status'] ?? '')) {
        const id = b['id'] ?? key.claudeAccountId;
        if (await officialRateLimited(redis, this.accounts, id, now, b)) throw this.dedicatedLimited(id, b);
        if (isSchedulable(b['schedulable'])) return [officialCandidate(id, b)];
      }
    }
    if (key.claudeConsoleAccountId) {
      const c = await getConsole(this.accounts, key.claudeConsoleAccountId);
      if (c && c.isActive && c.status === 'active' && c.schedulable) {
        await this.consoleState.checkQuotaUsage(c.id, c.raw);
        const limited = await consoleRateLimited(redis, this.accounts, c.id, now);
        const overQuota = await this.consoleState.isQuotaExceeded(c.id, c.raw);
        if (!limited && !overQuota) return [{ accountId: c.raw['id'] ?? c.id, accountType: 'claude-console', priority: c.priority, lastUsedAt: c.lastUsedAt || '0' }];
      }
    }
    if (key.bedrockAccountId) {
      const b = bedrockView(await this.accounts.getBedrock(key.bedrockAccountId));
      if (b && b.isActive && isSchedulable(b.schedulable)) return [{ accountId: b.id, accountType: 'bedrock', priority: b.priority, lastUsedAt: '0' }];
    }

    // The three listings, and then each account's checks, run side by side: every account's own reads and writes keep
    // their order (they touch only its keys), the candidates keep the legacy's order, and the round trips of a pool
    // of N accounts are those of one account instead of N times as many (the legacy awaits account after account).
    const [officials, consoles, bedrocks] = await Promise.all([this.accounts.list('claude'), this.accounts.list('claude-console'), this.accounts.list('bedrock')]);
    const out: Candidate[] = [];
    const officialPicks = await Promise.all(
      officials.map(async (a): Promise<Candidate | null> => {
        const id = a['id']!;
        if (a['isActive'] !== 'true' || ['error', 'blocked', 'temp_error'].includes(a['status'] ?? '')) return null;
        if (a['accountType'] && a['accountType'] !== 'shared') return null;
        if (!isSchedulable(a['schedulable']) || !officialSupportsModel(a['subscriptionInfo'], model)) return null;
        if (await isTempUnavailable(redis, 'claude-official', id)) return null;
        if (await officialRateLimited(redis, this.accounts, id, now, a)) return null;
        if (isOpus && (await officialOpusLimited(redis, this.accounts, id, now, a))) return null;
        return officialCandidate(id, a);
      }),
    );
    for (const c of officialPicks) if (c) out.push(c);

    const consolePicks = await Promise.all(
      consoles.map(async (listed): Promise<ReturnType<typeof consoleView> | null> => {
        const { c, fresh } = await this.poolConsoleView(listed);
        if (!(c.isActive && c.status === 'active' && c.accountType === 'shared' && c.schedulable)) return null;
        if (!consoleSupportsModel(c.supportedModels, model)) return null;
        // the legacy's listing summary names the field `expiresAt`, so its expiry check only bites on a re-read account
        if (fresh && consoleSubscriptionExpired(c, now)) return null;
        await this.consoleState.checkQuotaUsage(c.id, c.raw);
        if (await isTempUnavailable(redis, 'claude-console', c.id)) return null;
        const limited = await consoleRateLimited(redis, this.accounts, c.id, now);
        const overQuota = await this.consoleState.isQuotaExceeded(c.id, c.raw);
        return limited || overQuota ? null : c;
      }),
    );
    let eligible = 0;
    let excludedByConcurrency = 0;
    const needsConcurrency: Array<ReturnType<typeof consoleView>> = [];
    for (const c of consolePicks) {
      if (!c) continue;
      eligible++;
      if (c.maxConcurrentTasks > 0) needsConcurrency.push(c);
      else out.push({ accountId: c.id, accountType: 'claude-console', priority: c.priority, lastUsedAt: c.lastUsedAt || '0' });
    }
    const counts = await Promise.all(needsConcurrency.map((c) => consoleConcurrency(redis, c.id, now)));
    needsConcurrency.forEach((c, i) => {
      if (counts[i]! < c.maxConcurrentTasks) out.push({ accountId: c.id, accountType: 'claude-console', priority: c.priority, lastUsedAt: c.lastUsedAt || '0' });
      else excludedByConcurrency++;
    });

    const bedrockPicks = await Promise.all(
      bedrocks.map(async (row): Promise<Candidate | null> => {
        const b = bedrockView(row);
        if (!b || !b.isActive || b.accountType !== 'shared' || !isSchedulable(b.schedulable)) return null;
        if (await isTempUnavailable(redis, 'bedrock', b.id)) return null;
        return { accountId: b.id, accountType: 'bedrock', priority: b.priority, lastUsedAt: '0' };
      }),
    );
    for (const c of bedrockPicks) if (c) out.push(c);

    if (out.length === 0 && eligible > 0 && excludedByConcurrency === eligible) {
      throw new SchedulerError('All available Claude Console accounts have reached their concurrency limit', 'CONSOLE_ACCOUNT_CONCURRENCY_FULL');
    }
    return out;
  }

  /** A listed Console account after the legacy's block check (an expired block is lifted and the account re-read). */
  private async poolConsoleView(listed: RawHash): Promise<{ c: ConsoleAccount; fresh: boolean }> {
    const id = listed['id']!;
    const blocked = await this.consoleState.isBlocked(id, listed);
    if (!blocked && listed['status'] === 'account_blocked') {
      const fresh = await this.accounts.get('claude-console', id);
      if (fresh) return { c: consoleView(fresh, id, false), fresh: true };
    }
    return { c: consoleView(listed, id, true), fresh: false };
  }

  private async availableForBinding(id: string, now: number): Promise<boolean> {
    const a = await this.accounts.get('claude', id);
    if (!a || (a['isActive'] !== 'true' && (a['isActive'] as unknown) !== true)) return false;
    if (a['status'] === 'error' || a['status'] === 'temp_error') return false;
    if (await officialRateLimited(this.redis, this.accounts, id, now)) return false;
    return !(await isTempUnavailable(this.redis, 'claude-official', id));
  }

  /** _isAccountAvailable (sticky sessions and groups). */
  async isAvailable(target: ScheduledAccount, model: string | null, now: number): Promise<boolean> {
    try {
      if (target.accountType === 'claude-official') {
        const a = await this.accounts.get('claude', target.accountId);
        if (!a || a['isActive'] !== 'true' || a['status'] === 'error' || a['status'] === 'temp_error') return false;
        if (!isSchedulable(a['schedulable']) || !officialSupportsModel(a['subscriptionInfo'], model)) return false;
        if (await officialRateLimited(this.redis, this.accounts, target.accountId, now, a)) return false;
        if (model && model.toLowerCase().includes('opus') && (await officialOpusLimited(this.redis, this.accounts, target.accountId, now, a))) return false;
        return true;
      }
      if (target.accountType === 'claude-console') {
        const c = await getConsole(this.accounts, target.accountId);
        if (!c || !c.isActive) return false;
        if (!['active', 'unauthorized', 'overloaded'].includes(c.status)) return false;
        if (!c.schedulable || !consoleSupportsModel(c.supportedModels, model)) return false;
        if (consoleSubscriptionExpired(c, now)) return false;
        await this.consoleState.checkQuotaUsage(c.id, c.raw);
        if (await consoleRateLimited(this.redis, this.accounts, c.id, now)) return false;
        if (await this.consoleState.isQuotaExceeded(c.id, c.raw)) return false;
        if (c.status === 'unauthorized') return false;
        if (await consoleOverloaded(this.redis, c, now)) return false;
        if (c.maxConcurrentTasks > 0 && (await consoleConcurrency(this.redis, c.id, now)) >= c.maxConcurrentTasks) return false;
        return true;
      }
      if (target.accountType === 'bedrock') {
        const b = bedrockView(await this.accounts.getBedrock(target.accountId));
        return !!b && b.isActive && isSchedulable(b.schedulable);
      }
      return false;
    } catch {
      return false;
    }
  }

  private async selectFromGroup(groupId: string, sessionHash: string | null, model: string | null, now: number): Promise<ScheduledAccount> {
    const redis = this.redis;
    const group = await redis.hgetall(keys.accountGroup(groupId));
    if (Object.keys(group).length === 0) throw new SchedulerError(`Group ${groupId} not found`, 'NO_ACCOUNT');
    const name = group['name'] ?? groupId;
    const members = await redis.smembers(keys.accountGroupMembers(groupId));
    if (sessionHash) {
      const mapped = await this.getMapping(sessionHash);
      if (mapped) {
        if (members.includes(mapped.accountId) && mapped.accountType !== 'ccr' && (await this.isAvailable(mapped, model, now))) {
          await this.extendMapping(sessionHash);
          return mapped;
        }
        await this.sticky.delete('claude', sessionHash);
      }
    }
    if (members.length === 0) throw new SchedulerError(`Group ${name} has no members`, 'NO_ACCOUNT');
    if (group['platform'] === 'gemini') throw new SchedulerError(`No available accounts in group ${name}`, 'NO_ACCOUNT');
    const isOpus = !!model && model.toLowerCase().includes('opus');
    // members checked side by side, as the pool's accounts (each member's reads and writes in its own order)
    const picks = await Promise.all(
      members.map(async (id): Promise<Candidate | null> => {
        const official = await this.accounts.get('claude', id);
        if (official && official['id']) {
          if (official['isActive'] !== 'true' || official['status'] === 'error' || official['status'] === 'blocked') return null;
          if (!isSchedulable(official['schedulable']) || !officialSupportsModel(official['subscriptionInfo'], model)) return null;
          if (await officialRateLimited(redis, this.accounts, id, now, official)) return null;
          if (isOpus && (await officialOpusLimited(redis, this.accounts, id, now, official))) return null;
          return officialCandidate(id, official);
        }
        const c = await getConsole(this.accounts, id);
        if (!c) return null;
        if (!c.isActive || c.status !== 'active' || !c.schedulable || !consoleSupportsModel(c.supportedModels, model)) return null;
        if (await consoleRateLimited(redis, this.accounts, id, now)) return null;
        if (c.maxConcurrentTasks > 0 && (await consoleConcurrency(redis, id, now)) >= c.maxConcurrentTasks) return null;
        return { accountId: id, accountType: 'claude-console', priority: c.priority, lastUsedAt: c.lastUsedAt || '0' };
      }),
    );
    const out = picks.filter((c): c is Candidate => c !== null);
    if (out.length === 0) throw new SchedulerError(`No available accounts in group ${name}`, 'NO_ACCOUNT');
    const chosen = sortCandidates(out)[0]!;
    if (sessionHash) await this.setMapping(sessionHash, chosen);
    return { accountId: chosen.accountId, accountType: chosen.accountType };
  }

  private async getMapping(sessionHash: string): Promise<ScheduledAccount | null> {
    const m = await this.sticky.get('claude', sessionHash);
    return m ? { accountId: m.accountId, accountType: m.accountType as ClaudeAccountType } : null;
  }

  private async setMapping(sessionHash: string, a: ScheduledAccount): Promise<void> {
    await this.sticky.set('claude', sessionHash, a.accountId, a.accountType);
  }

  private async extendMapping(sessionHash: string): Promise<void> {
    await this.sticky.extend('claude', sessionHash);
  }
}

function officialCandidate(id: string, a: RawHash): Candidate {
  return { accountId: id, accountType: 'claude-official', priority: Number.parseInt(a['priority'] ?? '', 10) || 50, lastUsedAt: a['lastUsedAt'] || '0' };
}

/** Stable sort: priority ascending, then lastUsedAt ascending (never used first). */
export function sortCandidates<T extends { priority: number; lastUsedAt: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => {
    if (a.priority !== b.priority) return a.priority - b.priority;
    return lastUsedOrderKey(a.lastUsedAt) - lastUsedOrderKey(b.lastUsedAt);
  });
}

/**
 * The reads select() starts with for a key's dedicated bindings (account hash + temp-unavailable
 * flag), for the auth step to fetch together with the key lookup (AuthenticatorOptions.readAhead).
 */
export function schedulerReadAhead(key: KeyBindings): PlannedRead[] {
  const out: PlannedRead[] = [];
  if (key.claudeAccountId && !key.claudeAccountId.startsWith('group:')) {
    out.push({ cmd: 'hgetall', key: keys.account('claude', key.claudeAccountId) }, { cmd: 'exists', key: keys.tempUnavailable('claude-official', key.claudeAccountId) });
  }
  if (key.claudeConsoleAccountId) {
    out.push({ cmd: 'hgetall', key: keys.account('claude-console', key.claudeConsoleAccountId) }, { cmd: 'exists', key: keys.tempUnavailable('claude-console', key.claudeConsoleAccountId) });
  }
  return out;
}
