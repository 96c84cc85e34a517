import type { ReadAhead } from './key-read-ahead.js';
import type { ServerResponse } from 'node:http';
import type { ApiKeyHash, ParsedApiKey } from '../storage/api-keys.js';

/** Key fields a route gets in their parsed form (ParsedApiKey: numbers, booleans, arrays; `tokenLimit` NaN when empty). */
type ParsedKeyField =
  | 'id'
  | 'name'
  | 'tokenLimit'
  | 'permissions'
  | 'concurrencyLimit'
  | 'rateLimitWindow'
  | 'rateLimitRequests'
  | 'rateLimitCost'
  | 'enableModelRestriction'
  | 'restrictedModels'
  | 'enableClientRestriction'
  | 'allowedClients'
  | 'dailyCostLimit'
  | 'totalCostLimit'
  | 'weeklyOpusCostLimit'
  | 'tags';

/** Key fields a route gets as stored (absent field → undefined, as the legacy copied them). */
type StoredKeyField =
  | 'claudeAccountId'
  | 'claudeConsoleAccountId'
  | 'geminiAccountId'
  | 'openaiAccountId'
  | 'bedrockAccountId'
  | 'droidAccountId'
  | 'description'
  | 'azureOpenaiAccountId'
  | 'createdAt'
  | 'expiresAt';

/**
 * What `authenticateApiKey` hands to a route on success: the legacy's `req.apiKey`
 * (src/middleware/auth.js authenticateApiKey, same field names and values; note the legacy
 * does NOT copy `azureOpenaiAccountId` or `description` there; validateApiKey returned them and
 * routes use them) plus the values the checks used. Derived from the storage layer's typed key
 * record (ParsedApiKey) so a field's type is declared once.
 */
export type AuthenticatedKey = Pick<ParsedApiKey, ParsedKeyField> & { [F in StoredKeyField]: ParsedApiKey[F] | undefined } & {
  /** Today's / all-time / this week's Opus cost as the checks read them. */
  dailyCost: number;
  totalCost: number;
  weeklyOpusCost: number;
  /** The raw `apikey:{id}` hash after activation (HGETALL field order). */
  record: ApiKeyHash;
};

/** The legacy's `req.rateLimitInfo`: where a route adds tokens / cost after the response. */
export interface RateLimitInfo {
  windowStart: number;
  windowDuration: number;
  requestCountKey: string;
  tokenCountKey: string;
  costCountKey: string;
  currentRequests: number;
  currentTokens: number;
  currentCost: number;
  rateLimitRequests: number;
  tokenLimit: number;
  rateLimitCost: number;
}

export interface AuthSuccess {
  ok: true;
  key: AuthenticatedKey;
  /** Present when the key has an active rate-limit window (the request was counted). */
  rateLimit: RateLimitInfo | null;
  /**
   * Release the concurrency lease (no-op when none was taken). Idempotent. Also called
   * automatically when `res` closes or finishes, so every exit path releases — including
   * client disconnect and upstream failure (the legacy leaks there: accepted deviation).
   */
  release(): Promise<void>;
  /** Headers the auth step set on the response (e.g. `Connection: close` after queueing), in order. */
  responseHeaders: Array<[string, string]>;
  /** Replies of the route's planned reads, fetched with the key lookup (AuthenticatorOptions.readAhead). */
  readAhead: ReadAhead;
}

export interface AuthRejection {
  ok: false;
  abandoned?: false;
  status: number;
  /** Extra response headers (e.g. `Retry-After`), placed after the envelope's cache headers. */
  headers: Array<[string, string]>;
  /** JSON body, key order as the legacy wrote it. */
  body: Record<string, unknown>;
}

/** The client went away while queued (or the socket changed): the legacy writes nothing. */
export interface AuthAbandoned {
  ok: false;
  abandoned: true;
}

export type AuthResult = AuthSuccess | AuthRejection | AuthAbandoned;

export interface AuthRequestOptions {
  /**
   * URL as the client sent it, path + query (legacy `req.originalUrl`). Default: `req.url`.
   */
  originalUrl?: string;
  /**
   * Router-relative path (legacy `req.path` inside the mounted router, e.g. `/v1/messages` for
   * `/api/v1/messages`). Default: derived from the legacy's mount table (`routerPath()`).
   */
  routerPath?: string;
  /** Parsed JSON body (claude_code / codex_cli validators and the weekly Opus check read it). Default `{}`. */
  body?: unknown;
  /**
   * The response. When given, the concurrency lease is released on its `close`/`finish`, and the
   * queue sets `Connection: close` the way the legacy did. Strongly recommended for relays.
   */
  res?: ServerResponse;
}
