/**
 * Upstream request headers per account type (relay-claude.md §4.3 official, §5.2 console).
 * Headers are kept as ordered [name, value] lists because the order and the name casing are
 * what the legacy puts on the wire (JS-object insertion order, case-sensitive keys).
 */
export type HeaderList = Array<[string, string]>;

/** Client headers in arrival order, lower-case names (Node's req.headers). */
export type ClientHeaders = Record<string, string | string[] | undefined>;

const OFFICIAL_WHITELIST = new Set([
  'accept',
  'x-stainless-retry-count',
  'x-stainless-timeout',
  'x-stainless-lang',
  'x-stainless-package-version',
  'x-stainless-os',
  'x-stainless-arch',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-helper-method',
  'anthropic-dangerous-direct-browser-access',
  'anthropic-version',
  'x-app',
  'anthropic-beta',
  'accept-language',
  'sec-fetch-mode',
  'accept-encoding',
  'user-agent',
  'content-type',
  'connection',
]);

/** The 8 fingerprint headers, canonical order and the casing they are re-added with. */
export const STAINLESS_KEYS: ReadonlyArray<[string, string]> = [
  ['x-stainless-retry-count', 'X-Stainless-Retry-Count'],
  ['x-stainless-timeout', 'X-Stainless-Timeout'],
  ['x-stainless-lang', 'X-Stainless-Lang'],
  ['x-stainless-package-version', 'X-Stainless-Package-Version'],
  ['x-stainless-os', 'X-Stainless-OS'],
  ['x-stainless-arch', 'X-Stainless-Arch'],
  ['x-stainless-runtime', 'X-Stainless-Runtime'],
  ['x-stainless-runtime-version', 'X-Stainless-Runtime-Version'],
];

/** Defaults the legacy merges for a body without a string `model` (claudeCodeHeadersService). */
export const DEFAULT_CLAUDE_CODE_HEADERS: Readonly<Record<string, string>> = {
  'x-stainless-retry-count': '0',
  'x-stainless-timeout': '60',
  'x-stainless-lang': 'js',
  'x-stainless-package-version': '0.55.1',
  'x-stainless-os': 'Windows',
  'x-stainless-arch': 'x64',
  'x-stainless-runtime': 'node',
  'x-stainless-runtime-version': 'v20.19.2',
  'anthropic-dangerous-direct-browser-access': 'true',
  'x-app': 'cli',
  'user-agent': 'claude-cli/1.0.57 (external, cli)',
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
};

function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** An insertion-ordered, case-sensitive header object with JS-object semantics. */
class OrderedHeaders {
  readonly map = new Map<string, string>();
  set(name: string, value: string): void {
    this.map.set(name, value);
  }
  get(name: string): string | undefined {
    return this.map.get(name);
  }
  delete(name: string): void {
    this.map.delete(name);
  }
  deleteCaseInsensitive(name: string): void {
    const lower = name.toLowerCase();
    for (const k of [...this.map.keys()]) if (k.toLowerCase() === lower) this.map.delete(k);
  }
  list(): HeaderList {
    return [...this.map.entries()];
  }
}

export function computeBetaHeader(model: unknown, clientBeta: string | undefined): string {
  if (clientBeta) {
    if (clientBeta.includes('oauth-2025-04-20')) return clientBeta;
    const parts = clientBeta.split(',').map((p) => p.trim());
    const at = parts.indexOf('claude-code-20250219');
    if (at >= 0) parts.splice(at + 1, 0, 'oauth-2025-04-20');
    else parts.unshift('oauth-2025-04-20');
    return parts.join(',');
  }
  if (typeof model === 'string' && model.toLowerCase().includes('haiku')) {
    return 'oauth-2025-04-20,interleaved-thinking-2025-05-14';
  }
  return 'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14';
}

export interface OfficialHeaderInput {
  clientHeaders: ClientHeaders;
  accessToken: string;
  contentLength: number;
  /** The processed payload's model. */
  model: unknown;
  /** Processed body has a string model → it counts as "real Claude Code" and no defaults merge. */
  mergeStoredHeaders: Record<string, string> | null;
  unifiedUserAgent: string | null;
  apiVersion?: string;
}

export interface OfficialHeaders {
  headers: HeaderList;
  /** Stainless fingerprint (lower-case names) to SET NX under fmt_claude_req:stainless_headers:<id>, when ≥ 4 fields. */
  fingerprint: Record<string, string> | null;
}

export function buildOfficialHeaders(input: OfficialHeaderInput): OfficialHeaders {
  // 1. whitelist
  const merged = new OrderedHeaders();
  for (const [name, raw] of Object.entries(input.clientHeaders)) {
    const value = headerValue(raw);
    if (value !== undefined && OFFICIAL_WHITELIST.has(name.toLowerCase())) merged.set(name, value);
  }
  // 2. stored / default Claude Code headers (only for bodies without a string model)
  if (input.mergeStoredHeaders) {
    for (const [name, value] of Object.entries(input.mergeStoredHeaders)) {
      if (merged.get(name) === undefined && merged.get(name.toLowerCase()) === undefined) merged.set(name, value);
    }
  }
  // 3. stainless fingerprint: re-add at the end in canonical order with proper casing
  const found: Record<string, string> = {};
  for (const [name, value] of merged.map) {
    const lower = name.toLowerCase();
    if (STAINLESS_KEYS.some(([k]) => k === lower) && String(value).trim() !== '') found[lower] = String(value);
  }
  const fingerprint: Record<string, string> = {};
  for (const [k] of STAINLESS_KEYS) if (found[k] !== undefined) fingerprint[k] = found[k];
  const hasFingerprint = Object.keys(fingerprint).length >= 4;
  if (hasFingerprint) {
    for (const [k, proper] of STAINLESS_KEYS) {
      if (fingerprint[k] === undefined) continue;
      merged.deleteCaseInsensitive(k);
      merged.set(proper, fingerprint[k]);
    }
  }
  // 4. final object
  const out = new OrderedHeaders();
  out.set('host', 'api.anthropic.com');
  out.set('connection', 'keep-alive');
  out.set('content-type', 'application/json');
  out.set('content-length', String(input.contentLength));
  out.set('authorization', `Bearer ${input.accessToken}`);
  out.set('anthropic-version', input.apiVersion ?? '2023-06-01');
  // `connection` is hop-by-hop: the legacy forwards the client's value, which would be `close` on a
  // pooled keep-alive socket for a client that asks its own connection to close. The name and
  // position stay as the legacy builds them; the value is always keep-alive (docs/claude-relay.md).
  for (const [k, v] of merged.map) out.set(k, k.toLowerCase() === 'connection' ? 'keep-alive' : v);
  const userAgent = input.unifiedUserAgent || out.get('user-agent') || 'claude-cli/1.0.119 (external, cli)';
  const accept = out.get('accept') || 'application/json';
  out.delete('user-agent');
  out.delete('accept');
  out.set('User-Agent', userAgent);
  out.set('Accept', accept);
  out.set('anthropic-beta', computeBetaHeader(input.model, headerValue(input.clientHeaders['anthropic-beta'])));
  return { headers: out.list(), fingerprint: hasFingerprint ? fingerprint : null };
}

const CONSOLE_BLACKLIST = new Set([
  'content-type',
  'user-agent',
  'authorization',
  'x-api-key',
  'host',
  'content-length',
  'connection',
  'proxy-authorization',
  'content-encoding',
  'transfer-encoding',
  'anthropic-version',
]);

export interface ConsoleHeaderInput {
  clientHeaders: ClientHeaders;
  accountUserAgent: string | undefined;
  accountApiKey: string;
  contentLength: number;
  /** host[:port] of the account apiUrl. */
  host: string;
  betaHeader?: string | undefined;
}

/**
 * Console upstream headers as axios 1.x puts them on the wire: its Accept default first,
 * the relay's object, auth, Content-Length, Accept-Encoding default, then Node's Host/Connection.
 * Axios headers are case-insensitive: a forwarded `accept` replaces the Accept value in place.
 */
export function buildConsoleHeaders(input: ConsoleHeaderInput): HeaderList {
  const out: HeaderList = [['Accept', 'application/json, text/plain, */*']];
  const find = (name: string): number => out.findIndex(([k]) => k.toLowerCase() === name.toLowerCase());
  const put = (name: string, value: string): void => {
    const at = find(name);
    if (at >= 0) out[at] = [out[at]![0], value];
    else out.push([name, value]);
  };
  const ua = input.accountUserAgent || headerValue(input.clientHeaders['user-agent']) || 'claude-cli/2.0.52 (external, cli)';
  put('Content-Type', 'application/json');
  put('anthropic-version', '2023-06-01');
  put('User-Agent', ua);
  for (const [name, raw] of Object.entries(input.clientHeaders)) {
    const value = headerValue(raw);
    if (value === undefined || CONSOLE_BLACKLIST.has(name.toLowerCase())) continue;
    put(name, value);
  }
  if (input.accountApiKey.startsWith('sk-ant-')) put('x-api-key', input.accountApiKey);
  else put('Authorization', `Bearer ${input.accountApiKey}`);
  if (input.betaHeader) put('anthropic-beta', input.betaHeader);
  put('Content-Length', String(input.contentLength));
  if (find('accept-encoding') < 0) out.push(['Accept-Encoding', 'gzip, compress, deflate, br']);
  out.push(['Host', input.host]);
  out.push(['Connection', 'keep-alive']);
  return out;
}

/** Flat [name, value, name, value…] form for http.request / writeHead. */
/**
 * The official relay copies the upstream's response headers to the client. The legacy forwarded the
 * client's own `Connection` value upstream, so a client that asked for `close` got the upstream's answer
 * to `close`: `Connection: close` and no `Keep-Alive`. We keep the upstream socket alive (see
 * buildOfficialHeaders), so its answer says keep-alive; this restores what the legacy's client saw.
 */
export function clientHopView(upstream: HeaderList, clientHeaders: ClientHeaders): HeaderList {
  const asked = headerValue(clientHeaders['connection']);
  if (asked === undefined || asked.trim().toLowerCase() !== 'close') return upstream;
  const out: HeaderList = [];
  for (const [name, value] of upstream) {
    const lower = name.toLowerCase();
    if (lower === 'keep-alive') continue;
    out.push(lower === 'connection' ? [name, 'close'] : [name, value]);
  }
  return out;
}

export function flatten(list: HeaderList): string[] {
  const flat: string[] = [];
  for (const [k, v] of list) flat.push(k, v);
  return flat;
}
