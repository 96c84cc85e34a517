import type { ReadAhead } from './key-read-ahead.js';
import type { ServerResponse } from 'node:http';
import type { ApiKeyHash } from '../storage/api-keys.js';

/**
 * What `authenticateApiKey` hands to a route on success: the legacy's `req.apiKey`
 * (src/middleware/auth.js authenticateApiKey, same field names and values; note the legacy
 * does NOT copy `azureOpenaiAccountId` or `description` there) plus the values the checks used.
 */
export interface AuthenticatedKey {
  id: string;
  name: string;
  /** parseInt(tokenLimit): NaN when the stored field is empty (serialises as null, like the legacy). */
  tokenLimit: number;
  claudeAccountId: string | undefined;
  claudeConsoleAccountId: string | undefined;
  geminiAccountId: string | undefined;
  openaiAccountId: string | undefined;
  bedrockAccountId: string | undefined;
  droidAccountId: string | undefined;
  /** 'all' | 'claude' | 'gemini' | 'openai' | 'droid' (stored value, '' → 'all'). */
  permissions: string;
  concurrencyLimit: number;
  rateLimitWindow: number;
  rateLimitRequests: number;
  rateLimitCost: number;
  enableModelRestriction: boolean;
  restrictedModels: string[];
  enableClientRestriction: boolean;
  allowedClients: string[];
  dailyCostLimit: number;
  dailyCost: number;
  totalCostLimit: number;
  totalCost: number;
  weeklyOpusCostLimit: number;
  weeklyOpusCost: number;
  /** Fields the legacy's validateApiKey also returned (not on req.apiKey, but used by routes). */
  description: string | undefined;
  azureOpenaiAccountId: string | undefined;
  createdAt: string | undefined;
  expiresAt: string | undefined;
  tags: string[];
  /** The raw `apikey:{id}` hash after activation (HGETALL field order). */
  record: ApiKeyHash;
}

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
