import type { ServerResponse } from 'node:http';
import type { LegacyReply } from '../http/reply.js';
import type { RelayCallBase } from '../relay-claude/relay-call.js';
import type { RecordUsageInput } from '../usage/record-usage.js';

/** What one relay call records; the caller adds the key id, rate-limit window and key snapshot. */
export type ProviderUsage = Omit<RecordUsageInput, 'keyId' | 'rateLimitWindow' | 'keySnapshot'>;

/**
 * One relay call on a Bedrock or CCR account, after scheduling: the fields the Claude messages
 * module already passes to its official/console relays (`common`), plus the stream flag, the
 * reply envelope and raw response (these relays render their outcome themselves, as the legacy
 * services and api.js did for these account types) and the usage hook.
 */
export interface ProviderRelayCall extends RelayCallBase {
  sessionHash?: string | null;
  isStream: boolean;
  /** The reply envelope (for a stream, api.js' SSE headers are already set on it). */
  reply: LegacyReply;
  res: ServerResponse;
  onUsage: (u: ProviderUsage) => void;
}

/**
 * api.js' non-stream usage step, shared by every account type it renders: when the JSON answer
 * has `usage.input_tokens` and `usage.output_tokens`, recordUsage(key, the four counts, model
 * = (answer model || request model || 'unknown') without a `ccr,` prefix, account).
 */
export function nonStreamUsage(parsed: unknown, requestModel: unknown, accountId: string, stripPrefix: (m: string) => string): ProviderUsage | null {
  if (!parsed || typeof parsed !== 'object') return null;
  const json = parsed as Record<string, unknown>;
  const u = json['usage'] as Record<string, unknown> | undefined;
  if (!u || typeof u !== 'object' || u['input_tokens'] === undefined || u['output_tokens'] === undefined) return null;
  const raw = (json['model'] as string) || (requestModel as string) || 'unknown';
  const n = (k: string) => (u[k] as number) || 0;
  return {
    accountId,
    model: stripPrefix(raw) || raw,
    usage: { input_tokens: n('input_tokens'), output_tokens: n('output_tokens'), cache_creation_input_tokens: n('cache_creation_input_tokens'), cache_read_input_tokens: n('cache_read_input_tokens') },
    recorder: 'basic',
  };
}

/**
 * Headers for a relay's own `res.writeHead(status, {'Content-Type': ct, …})`: the legacy's
 * compression middleware then adds `Vary: Accept-Encoding` (last, at writeHead) when the type is
 * compressible and not exactly `text/event-stream` (its filter).
 */
export function withCompressionVary(headers: Array<[string, string]>, contentType: string): Array<[string, string]> {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const compressible = type.startsWith('text/') || type === 'application/json' || type.endsWith('+json') || type === 'application/javascript';
  return contentType !== 'text/event-stream' && compressible ? [...headers, ['Vary', 'Accept-Encoding']] : headers;
}
