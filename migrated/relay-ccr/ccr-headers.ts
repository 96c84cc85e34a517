import type { ClientHeaders } from '../relay-claude/headers.js';

export type HeaderPairs = Array<[string, string]>;

/** The only client headers a CCR relay forwards (ccrRelayService._filterClientHeaders). */
const FORWARDED = new Set(['accept-language', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access']);

const DEFAULT_USER_AGENT = 'claude-relay-service/1.0.0';

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

export interface CcrHeaderInput {
  clientHeaders: ClientHeaders;
  accountUserAgent: string;
  accountApiKey: string;
  contentLength: number;
  /** host[:port] of the account apiUrl. */
  host: string;
}

/**
 * CCR upstream headers as axios 1.x writes them: its Accept default, the relay's object
 * (Content-Type, anthropic-version, User-Agent, forwarded client headers), the credential
 * (`x-api-key` for `sk-ant-` keys, else `Authorization: Bearer`), Content-Length, axios'
 * Accept-Encoding default, then Node's Host and Connection.
 */
export function buildCcrHeaders(input: CcrHeaderInput): HeaderPairs {
  const out: HeaderPairs = [['Accept', 'application/json, text/plain, */*']];
  const put = (name: string, value: string): void => {
    const at = out.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
    if (at >= 0) out[at] = [out[at]![0], value];
    else out.push([name, value]);
  };
  put('Content-Type', 'application/json');
  put('anthropic-version', '2023-06-01');
  put('User-Agent', input.accountUserAgent || one(input.clientHeaders['user-agent']) || DEFAULT_USER_AGENT);
  for (const [name, raw] of Object.entries(input.clientHeaders)) {
    const value = one(raw);
    if (value !== undefined && FORWARDED.has(name.toLowerCase())) put(name, value);
  }
  if (input.accountApiKey && input.accountApiKey.startsWith('sk-ant-')) put('x-api-key', input.accountApiKey);
  else put('Authorization', `Bearer ${input.accountApiKey}`);
  put('Content-Length', String(input.contentLength));
  put('Accept-Encoding', 'gzip, compress, deflate, br');
  out.push(['Host', input.host]);
  out.push(['Connection', 'keep-alive']);
  return out;
}

/** The messages endpoint from the account apiUrl: trailing slash dropped, `/v1/messages` appended unless present. */
export function ccrMessagesUrl(apiUrl: string): string {
  const clean = apiUrl.replace(/\/$/, '');
  return clean.endsWith('/v1/messages') ? clean : `${clean}/v1/messages`;
}
