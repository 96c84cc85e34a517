/**
 * The live drill's traffic mix for the Claude relay routes (claude-messages, claude-count-tokens,
 * openai-claude-chat): Console / OAuth / pool / model-mapped keys, JSON and SSE, Claude Code shaped
 * requests, sticky sessions, count_tokens, OpenAI chat, validation and auth errors, and the upstream
 * error scenarios of the lab mock (529 / 500 / 429 / 401, mid-stream error) followed by the admin
 * reset the legacy needs before the account is schedulable again.
 *
 * Every body carries a marker `drill:<scenario>:r<round>` so a shadow difference can be traced back
 * to the scenario that produced it. Scenarios that would crash the legacy are left out on purpose
 * (an OAuth-bound streaming 429 followed by a client disconnect; client aborts on OpenAI chat streams:
 * docs/legacy-lab.md).
 */

export type KeyName = 'console' | 'oauth' | 'pool' | 'mapped';
export type RouteId = 'claude-messages' | 'claude-count-tokens' | 'openai-claude-chat' | 'admin';
/** core: steady-state traffic (also the concurrent phase); errors: upstream errors + resets; probe: known deviations. */
export type Group = 'core' | 'errors' | 'probe';

export interface DrillKeys {
  console: string;
  oauth: string;
  pool: string;
  mapped: string;
  adminToken: string;
  consoleAccountId: string;
  oauthAccountId: string;
}

export interface DrillRequest {
  scenario: string;
  route: RouteId;
  group: Group;
  method: 'POST';
  path: string;
  headers: Record<string, string>;
  /** Exact body bytes. */
  body: string;
  /** Why this one is expected to differ (a documented deviation), when it is. */
  expectedDifference?: string;
}

const MODEL = 'claude-sonnet-4-5-20250929';
const CC_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude.";
const CC_HEADERS: Record<string, string> = {
  'user-agent': 'claude-cli/2.0.14 (external, cli)',
  'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
  'x-app': 'cli',
  'anthropic-dangerous-direct-browser-access': 'true',
  'x-stainless-lang': 'js',
  'x-stainless-package-version': '0.60.0',
  'x-stainless-os': 'Linux',
  'x-stainless-arch': 'x64',
  'x-stainless-runtime': 'node',
  'x-stainless-runtime-version': 'v20.19.0',
  'x-stainless-retry-count': '0',
  'x-stainless-timeout': '600',
  accept: 'application/json',
};
const userId = (hex: string, session: string) => `user_${hex.repeat(64 / hex.length)}_account__session_${session}`;
const SESSION_A = '11111111-2222-4333-8444-555555555555';
const SESSION_B = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';

interface Spec {
  name: string;
  route: Exclude<RouteId, 'admin'>;
  group: Group;
  key: KeyName | 'unknown' | 'none';
  auth?: 'x-api-key' | 'bearer';
  path?: string;
  headers?: Record<string, string>;
  /** JSON body (marker added to the last user message), or raw bytes with `{marker}`. */
  body: Record<string, unknown> | { raw: string };
  expectedDifference?: string;
}

const msg = (text: string, extra: Record<string, unknown> = {}) => ({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }], ...extra });

const SPECS: Spec[] = [
  // claude-messages: the four key kinds, JSON and SSE
  { name: 'console-json', route: 'claude-messages', group: 'core', key: 'console', body: msg('console json') },
  { name: 'console-sse', route: 'claude-messages', group: 'core', key: 'console', body: msg('console sse', { stream: true }) },
  { name: 'oauth-json', route: 'claude-messages', group: 'core', key: 'oauth', body: msg('oauth json', { system: 'Be brief.', top_p: 0.5 }) },
  { name: 'oauth-sse', route: 'claude-messages', group: 'core', key: 'oauth', body: msg('oauth sse', { stream: true, temperature: 0.2 }) },
  { name: 'pool-json', route: 'claude-messages', group: 'core', key: 'pool', body: msg('pool json') },
  { name: 'pool-sse', route: 'claude-messages', group: 'core', key: 'pool', body: msg('pool sse', { stream: true }) },
  // Claude Code shaped: system prompt, stainless headers, metadata.user_id (sticky session A twice on the pool)
  {
    name: 'cc-pool-session-a-1', route: 'claude-messages', group: 'core', key: 'pool', headers: CC_HEADERS,
    body: { model: MODEL, max_tokens: 512, stream: true, system: [{ type: 'text', text: CC_SYSTEM, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: [{ type: 'text', text: 'session A turn 1' }] }], metadata: { user_id: userId('ab', SESSION_A) } },
  },
  {
    name: 'cc-pool-session-a-2', route: 'claude-messages', group: 'core', key: 'pool', headers: CC_HEADERS,
    body: { model: MODEL, max_tokens: 512, system: [{ type: 'text', text: CC_SYSTEM, cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: [{ type: 'text', text: 'session A turn 2' }] }], metadata: { user_id: userId('ab', SESSION_A) } },
  },
  {
    name: 'cc-oauth-bearer-claude-mount', route: 'claude-messages', group: 'core', key: 'oauth', auth: 'bearer', path: '/claude/v1/messages', headers: CC_HEADERS,
    body: { model: MODEL, max_tokens: 64000000, stream: true, system: [{ type: 'text', text: CC_SYSTEM, cache_control: { type: 'ephemeral', ttl: '1h' } }], messages: [{ role: 'user', content: [{ type: 'text', text: 'session B code' }] }], metadata: { user_id: userId('cd', SESSION_B) } },
  },
  {
    name: 'cc-console-session-b', route: 'claude-messages', group: 'core', key: 'console', headers: CC_HEADERS,
    body: { model: MODEL, max_tokens: 256, system: [{ type: 'text', text: CC_SYSTEM }, { type: 'text', text: 'Project rules.' }], messages: [{ role: 'user', content: 'console code' }], metadata: { user_id: userId('cd', SESSION_B) } },
  },
  // model mapping on a Console account (alias and a mapped real model)
  { name: 'mapped-alias-json', route: 'claude-messages', group: 'core', key: 'mapped', body: { ...msg('mapped alias'), model: 'lab-alias-sonnet' } },
  { name: 'mapped-opus-sse', route: 'claude-messages', group: 'core', key: 'mapped', body: { ...msg('mapped opus', { stream: true }), model: 'claude-opus-4-1-20250805' } },
  // validation and auth errors
  { name: 'empty-messages-400', route: 'claude-messages', group: 'core', key: 'console', body: { model: 'x', messages: [] } },
  { name: 'broken-json-400', route: 'claude-messages', group: 'core', key: 'console', body: { raw: '{"model":"x","messages":[{"role":"user","content":"{marker}"}' } },
  { name: 'unknown-key-401', route: 'claude-messages', group: 'core', key: 'unknown', body: msg('unknown key') },
  { name: 'missing-key-401', route: 'claude-messages', group: 'core', key: 'none', body: msg('missing key') },
  // count_tokens
  { name: 'count-console', route: 'claude-count-tokens', group: 'core', key: 'console', body: { model: MODEL, messages: [{ role: 'user', content: 'count console' }] } },
  { name: 'count-oauth', route: 'claude-count-tokens', group: 'core', key: 'oauth', body: { model: MODEL, system: 'sys', messages: [{ role: 'user', content: 'count oauth' }] } },
  { name: 'count-pool-claude-mount', route: 'claude-count-tokens', group: 'core', key: 'pool', path: '/claude/v1/messages/count_tokens', body: { model: MODEL, messages: [{ role: 'user', content: 'count pool' }] } },
  // OpenAI-compatible chat
  { name: 'openai-oauth-json', route: 'openai-claude-chat', group: 'core', key: 'oauth', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, max_tokens: 64, temperature: 0.3, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'openai json' }] } },
  { name: 'openai-oauth-sse', route: 'openai-claude-chat', group: 'core', key: 'oauth', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'openai sse' }] } },
  { name: 'openai-pool-json', route: 'openai-claude-chat', group: 'core', key: 'pool', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'openai pool' }] } },
  {
    name: 'openai-oauth-tools-sse', route: 'openai-claude-chat', group: 'core', key: 'oauth', path: '/openai/claude/v1/chat/completions',
    body: { model: MODEL, max_tokens: 128, stream: true, tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } }], messages: [{ role: 'user', content: '__MOCK_TOOL_USE__ weather please' }] },
  },
  { name: 'openai-console-key-500', route: 'openai-claude-chat', group: 'core', key: 'console', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: 'openai console' }] } },
  { name: 'openai-no-messages-400', route: 'openai-claude-chat', group: 'core', key: 'oauth', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, prompt: 'no messages' } },
  // upstream errors from the mock (body marker), each followed by what the legacy needs to recover
  { name: 'console-529', route: 'claude-messages', group: 'errors', key: 'console', body: msg('__MOCK_ERROR_529__ console') },
  { name: 'oauth-529', route: 'claude-messages', group: 'errors', key: 'oauth', body: msg('__MOCK_ERROR_529__ oauth') },
  { name: 'console-500', route: 'claude-messages', group: 'errors', key: 'console', body: msg('__MOCK_ERROR_500__ console') },
  { name: 'oauth-500', route: 'claude-messages', group: 'errors', key: 'oauth', body: msg('__MOCK_ERROR_500__ oauth') },
  { name: 'oauth-after-500', route: 'claude-messages', group: 'errors', key: 'oauth', body: msg('oauth after 500') },
  { name: 'console-midstream-error', route: 'claude-messages', group: 'errors', key: 'console', body: { ...msg('console midstream', { stream: true }), model: 'claude-sonnet-4-5-mock-stream-error' } },
  { name: 'count-console-529', route: 'claude-count-tokens', group: 'errors', key: 'console', body: { model: MODEL, messages: [{ role: 'user', content: '__MOCK_ERROR_529__ count' }] } },
  { name: 'openai-oauth-529', route: 'openai-claude-chat', group: 'errors', key: 'oauth', path: '/openai/claude/v1/chat/completions', body: { model: MODEL, messages: [{ role: 'user', content: '__MOCK_ERROR_529__ openai' }] } },
  { name: 'console-429', route: 'claude-messages', group: 'errors', key: 'console', body: msg('__MOCK_ERROR_429__ console') },
  { name: 'console-after-429', route: 'claude-messages', group: 'errors', key: 'console', body: msg('console after 429') },
  { name: 'oauth-429-json', route: 'claude-messages', group: 'errors', key: 'oauth', body: msg('__MOCK_ERROR_429__ oauth') },
  { name: 'oauth-after-429', route: 'claude-messages', group: 'errors', key: 'oauth', body: msg('oauth after 429') },
  { name: 'console-401', route: 'claude-messages', group: 'errors', key: 'console', body: msg('__MOCK_ERROR_401__ console') },
  // known deliberate deviations (docs/claude-relay.md), to see them surface live
  {
    name: 'probe-utf8-split-sse', route: 'claude-messages', group: 'probe', key: 'console', body: msg('__MOCK_SPLIT_UTF8__ greet me', { stream: true }),
    expectedDifference: 'U+FFFD: the legacy decodes each upstream chunk separately (accepted deviation, compat-tests/accepted-deviations.json)',
  },
  {
    name: 'probe-oauth-connection-close', route: 'claude-messages', group: 'probe', key: 'oauth', headers: { connection: 'close' }, body: msg('connection close'),
    expectedDifference: 'client Connection: close is forwarded upstream by the legacy; the module always sends keep-alive (docs/claude-relay.md deviation)',
  },
];

/** Which account the legacy must be reset after this scenario (it marks the account on these errors). */
export const RESET_AFTER: Record<string, 'console' | 'oauth'> = {
  'console-after-429': 'console',
  'oauth-after-429': 'oauth',
  'console-401': 'console',
};

export const marker = (scenario: string, round: number) => `drill:${scenario}:r${round}`;
export const MARKER_RE = /drill:([a-z0-9-]+):r(\d+)/;

function withMarker(body: Record<string, unknown>, m: string): Record<string, unknown> {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return { ...body, metadata_note: m };
  const last = messages[messages.length - 1] as { role: string; content: unknown };
  const content =
    typeof last.content === 'string'
      ? `${last.content} [${m}]`
      : Array.isArray(last.content)
        ? [...(last.content as unknown[]), { type: 'text', text: `[${m}]` }]
        : last.content;
  return { ...body, messages: [...messages.slice(0, -1), { ...last, content }] };
}

export function buildRequests(keys: DrillKeys, round: number, groups: readonly Group[]): DrillRequest[] {
  const out: DrillRequest[] = [];
  for (const s of SPECS) {
    if (!groups.includes(s.group)) continue;
    const m = marker(s.name, round);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...(s.headers ?? {}) };
    const key = s.key === 'unknown' ? 'cr_' + '0'.repeat(64) : s.key === 'none' ? null : keys[s.key];
    if (key) {
      if (s.auth === 'bearer') headers['authorization'] = `Bearer ${key}`;
      else headers['x-api-key'] = key;
    }
    const body = 'raw' in s.body ? (s.body.raw as string).replace('{marker}', m) : JSON.stringify(withMarker(s.body, m));
    out.push({
      scenario: s.name,
      route: s.route,
      group: s.group,
      method: 'POST',
      path: s.path ?? (s.route === 'claude-count-tokens' ? '/api/v1/messages/count_tokens' : '/api/v1/messages'),
      headers,
      body,
      ...(s.expectedDifference ? { expectedDifference: s.expectedDifference } : {}),
    });
  }
  return out;
}

export function resetRequest(keys: DrillKeys, account: 'console' | 'oauth'): DrillRequest {
  const path =
    account === 'console'
      ? `/admin/claude-console-accounts/${keys.consoleAccountId}/reset-status`
      : `/admin/claude-accounts/${keys.oauthAccountId}/reset-status`;
  return { scenario: `admin-reset-${account}`, route: 'admin', group: 'errors', method: 'POST', path, headers: { authorization: `Bearer ${keys.adminToken}`, 'content-type': 'application/json' }, body: '{}' };
}

export const expectedDifferenceOf = (scenario: string): string | undefined => SPECS.find((s) => s.name === scenario)?.expectedDifference;
