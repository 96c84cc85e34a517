import type { Redis } from 'ioredis';
import type { AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';

/**
 * Account state as the Claude scheduler reads it, with the legacy's read-side repairs
 * (scheduling.md §6): an expired rate limit / Opus limit / overload is cleared when observed.
 */
export type RawHash = Record<string, string>;

export const isSchedulable = (value: unknown): boolean =>
  value === undefined || value === null || (value !== false && value !== 'false');

export async function isTempUnavailable(redis: Redis, type: string, id: string): Promise<boolean> {
  return (await redis.exists(keys.tempUnavailable(type, id))) === 1;
}

// ---------------------------------------------------------------- official (claude:account:*)

/** claudeAccountService.isAccountRateLimited, including the auto-clear on expiry. */
/** `known`: the account hash already read in this request (skips the re-read). */
export async function officialRateLimited(redis: Redis, accounts: AccountRepository, id: string, nowMs: number, known?: RawHash | null): Promise<boolean> {
  const a = known ?? (await accounts.get('claude', id));
  if (!a) return false;
  const flagged = (a['rateLimitStatus'] === 'limited' && !!a['rateLimitedAt']) || (a['rateLimitAutoStopped'] === 'true' && !!a['rateLimitEndAt']);
  if (!flagged) return false;
  let until: number;
  if (a['rateLimitEndAt']) until = new Date(a['rateLimitEndAt']).getTime();
  else until = new Date(a['rateLimitedAt']!).getTime() + 3_600_000;
  if (nowMs < until) return true;
  await removeOfficialRateLimit(redis, accounts, id);
  return false;
}

/**
 * claudeAccountService.removeAccountRateLimit: the limit's fields and the auto-stop go, scheduling comes back when
 * the limit had stopped it. The legacy does this with HDELs around a whole-object save; the Redis result is the
 * same fields, written here in one MULTI, and the account is then mirrored to PostgreSQL as that save mirrors it.
 */
export async function removeOfficialRateLimit(redis: Redis, accounts: AccountRepository, id: string): Promise<void> {
  const key = keys.account('claude', id);
  const a = await redis.hgetall(key);
  if (Object.keys(a).length === 0) return;
  const multi = redis.multi().hdel(key, 'rateLimitedAt', 'rateLimitStatus', 'rateLimitEndAt');
  if (a['rateLimitAutoStopped'] === 'true' && a['schedulable'] === 'false') multi.hset(key, 'schedulable', 'true');
  multi.hdel(key, 'rateLimitAutoStopped');
  await multi.exec();
  await accounts.mirror('claude', id);
}

export async function officialOpusLimited(redis: Redis, accounts: AccountRepository, id: string, nowMs: number, known?: RawHash | null): Promise<boolean> {
  const key = keys.account('claude', id);
  const a = known ?? (await accounts.get('claude', id));
  if (!a || !a['opusRateLimitEndAt']) return false;
  const end = new Date(a['opusRateLimitEndAt']).getTime();
  if (Number.isFinite(end) && nowMs < end) return true;
  await redis.hdel(key, 'opusRateLimitedAt', 'opusRateLimitEndAt');
  return false;
}

// ---------------------------------------------------------------- console (claude_console_account:*)

export interface ConsoleAccount {
  id: string;
  raw: RawHash;
  isActive: boolean;
  status: string;
  accountType: string;
  schedulable: boolean;
  priority: number;
  lastUsedAt: string;
  supportedModels: unknown;
  maxConcurrentTasks: number;
  rateLimitDuration: number;
}

function parseModels(value: string | undefined, arrayOnly: boolean): unknown {
  try {
    const parsed = JSON.parse(value || '[]') as unknown;
    if (arrayOnly) return Array.isArray(parsed) ? parsed : [];
    return parsed;
  } catch {
    return [];
  }
}

/** getAccount (full: object model mappings honoured) or the summary of getAllAccounts (arrays only). */
export function consoleView(raw: RawHash, id: string, summary: boolean): ConsoleAccount {
  const duration = Number.parseInt(raw['rateLimitDuration'] ?? '', 10);
  return {
    id,
    raw,
    isActive: raw['isActive'] === 'true',
    status: summary ? raw['status'] || 'active' : (raw['status'] ?? ''),
    accountType: summary ? raw['accountType'] || 'shared' : (raw['accountType'] ?? ''),
    schedulable: raw['schedulable'] !== 'false',
    priority: Number.parseInt(raw['priority'] ?? '', 10) || 50,
    lastUsedAt: raw['lastUsedAt'] ?? '',
    supportedModels: parseModels(raw['supportedModels'], summary),
    maxConcurrentTasks: Number.parseInt(raw['maxConcurrentTasks'] ?? '', 10) || 0,
    rateLimitDuration: Number.isNaN(duration) ? 60 : duration,
  };
}

export async function getConsole(accounts: AccountRepository, id: string): Promise<ConsoleAccount | null> {
  const raw = await accounts.get('claude-console', id);
  return raw ? consoleView(raw, id, false) : null;
}

export async function consoleRateLimited(redis: Redis, accounts: AccountRepository, id: string, nowMs: number): Promise<boolean> {
  const a = await getConsole(accounts, id);
  if (!a || a.rateLimitDuration === 0) return false;
  if (a.raw['rateLimitStatus'] !== 'limited' || !a.raw['rateLimitedAt']) return false;
  const minutes = (nowMs - new Date(a.raw['rateLimitedAt']).getTime()) / 60_000;
  if (minutes >= a.rateLimitDuration) {
    await removeConsoleRateLimit(redis, id);
    return false;
  }
  return true;
}

export async function removeConsoleRateLimit(redis: Redis, id: string): Promise<void> {
  await liftConsoleStop(redis, id, { marks: ['rateLimitedAt', 'rateLimitStatus'], stoppedStatus: 'rate_limited', autoStopField: 'rateLimitAutoStopped' });
}

/** Which mark a Console account's stop came from (rate limit, 400 block): its fields and status. */
export interface ConsoleStopMark {
  /** The mark's fields, deleted first. */
  marks: string[];
  /** The account status while this mark holds it. */
  stoppedStatus: string;
  /** Set when the mark also took the account out of scheduling. */
  autoStopField: string;
}

/**
 * The legacy's removal of a Console account's stop mark (removeAccountRateLimit, removeAccountBlocked: the same
 * steps, other fields): the mark's fields go; an account still in the mark's status returns to `quota_exceeded`
 * when its daily quota stopped it meanwhile, else to active (and schedulable again when the mark had stopped it).
 */
export async function liftConsoleStop(redis: Redis, id: string, mark: ConsoleStopMark): Promise<void> {
  const key = keys.account('claude-console', id);
  const [status, quotaStoppedAt] = await redis.hmget(key, 'status', 'quotaStoppedAt');
  await redis.hdel(key, ...mark.marks);
  if (status !== mark.stoppedStatus) {
    await redis.hdel(key, mark.autoStopField);
    return;
  }
  if (quotaStoppedAt) {
    await redis.hset(key, 'status', 'quota_exceeded');
    return;
  }
  const a = await redis.hgetall(key);
  const update: Record<string, string> = { isActive: 'true', status: 'active', errorMessage: '' };
  const hadAutoStop = a[mark.autoStopField] === 'true';
  if (hadAutoStop && a['schedulable'] === 'false') update['schedulable'] = 'true';
  if (hadAutoStop) await redis.hdel(key, mark.autoStopField);
  await redis.hset(key, update);
}

export async function consoleOverloaded(redis: Redis, a: ConsoleAccount, nowMs: number): Promise<boolean> {
  if (a.raw['overloadStatus'] !== 'overloaded' || !a.raw['overloadedAt']) return false;
  if ((nowMs - new Date(a.raw['overloadedAt']).getTime()) / 60_000 >= 10) {
    await redis.hdel(keys.account('claude-console', a.id), 'overloadedAt', 'overloadStatus');
    return false;
  }
  return true;
}

export function consoleSubscriptionExpired(a: ConsoleAccount, nowMs: number): boolean {
  const at = a.raw['subscriptionExpiresAt'];
  return !!at && new Date(at).getTime() <= nowMs;
}

/** Lua-free equivalent of getConsoleAccountConcurrency: purge expired leases, count the rest. */
export async function consoleConcurrency(redis: Redis, id: string, nowMs: number): Promise<number> {
  const key = keys.concurrencyConsoleAccount(id);
  const res = await redis.multi().zremrangebyscore(key, '-inf', nowMs).zcard(key).exec();
  return Number(res?.[1]?.[1] ?? 0);
}

// ---------------------------------------------------------------- bedrock (bedrock_account:* JSON)

export interface BedrockAccount {
  id: string;
  isActive: boolean;
  accountType: string;
  schedulable: unknown;
  priority: number;
}

/** A Bedrock account from its JSON object (getBedrock) or the string-encoded listing form. */
export function bedrockView(a: Record<string, unknown> | null): BedrockAccount | null {
  if (!a) return null;
  return {
    id: String(a['id'] ?? ''),
    isActive: a['isActive'] === true || a['isActive'] === 'true',
    accountType: String(a['accountType'] ?? ''),
    schedulable: a['schedulable'],
    priority: Number.parseInt(String(a['priority'] ?? ''), 10) || 50,
  };
}
