import { describe, expect, it } from 'vitest';
import { buildConsoleHeaders, buildOfficialHeaders, clientHopView, computeBetaHeader } from './headers.js';
import { pairs, traceRequest, traceUpstream } from './trace-fixtures.test-helper.js';

/** Node's req.headers after auth: lower-case names in arrival order, x-api-key overwritten/appended. */
function clientHeadersOf(name: string): Record<string, string> {
  const h = { ...traceRequest(name).headers };
  return h;
}

describe('official upstream headers match the recorded wire order', () => {
  for (const name of ['04-messages-nonstream-oauth-first', '06-messages-stream-oauth', '12-count-tokens-oauth', '36-upstream-500-oauth']) {
    it(name, () => {
      const up = traceUpstream(name)[0]!;
      const { headers, fingerprint } = buildOfficialHeaders({
        clientHeaders: clientHeadersOf(name),
        accessToken: 'sk-ant-oat01-LAB-MOCK-ACCESS-TOKEN',
        contentLength: Buffer.byteLength(up.bodyRaw),
        model: (JSON.parse(up.bodyRaw) as { model: string }).model,
        mergeStoredHeaders: null,
        unifiedUserAgent: null,
      });
      expect(headers).toEqual(pairs(up.rawHeaders));
      expect(fingerprint).toBeNull();
    });
  }

  it('a client asking `Connection: close` does not close the pooled upstream socket: the official relay sends keep-alive (deliberate)', () => {
    const name = '04-messages-nonstream-oauth-first';
    const up = traceUpstream(name)[0]!;
    const { headers } = buildOfficialHeaders({
      clientHeaders: { ...clientHeadersOf(name), connection: 'close' },
      accessToken: 'sk-ant-oat01-LAB-MOCK-ACCESS-TOKEN',
      contentLength: Buffer.byteLength(up.bodyRaw),
      model: (JSON.parse(up.bodyRaw) as { model: string }).model,
      mergeStoredHeaders: null,
      unifiedUserAgent: null,
    });
    expect(headers).toEqual(pairs(up.rawHeaders)); // same as the recording, where the client sent keep-alive
  });

  it("the client who asked `Connection: close` sees the upstream's answer to close, as with the legacy (Connection: close, no Keep-Alive)", () => {
    const upstream: Array<[string, string]> = [['content-type', 'application/json'], ['Connection', 'keep-alive'], ['Keep-Alive', 'timeout=5'], ['request-id', 'r1']];
    expect(clientHopView(upstream, { connection: 'Close' })).toEqual([['content-type', 'application/json'], ['Connection', 'close'], ['request-id', 'r1']]);
    expect(clientHopView(upstream, { connection: 'keep-alive' })).toBe(upstream);
    expect(clientHopView(upstream, {})).toBe(upstream);
  });

  it('re-adds 4+ stainless headers at the end in canonical casing and reports the fingerprint', () => {
    const { headers, fingerprint } = buildOfficialHeaders({
      clientHeaders: clientHeadersOf('10-claude-code-style-stream-pool'),
      accessToken: 't',
      contentLength: 1,
      model: 'claude-sonnet-4-5',
      mergeStoredHeaders: null,
      unifiedUserAgent: null,
    });
    const names = headers.map(([k]) => k);
    expect(names.slice(0, 6)).toEqual(['host', 'connection', 'content-type', 'content-length', 'authorization', 'anthropic-version']);
    expect(names.slice(6)).toEqual([
      'anthropic-beta',
      'x-app',
      'anthropic-dangerous-direct-browser-access',
      'X-Stainless-Retry-Count',
      'X-Stainless-Timeout',
      'X-Stainless-Lang',
      'X-Stainless-Package-Version',
      'X-Stainless-OS',
      'X-Stainless-Arch',
      'X-Stainless-Runtime',
      'X-Stainless-Runtime-Version',
      'User-Agent',
      'Accept',
    ]);
    // anthropic-beta keeps the client position with the oauth flag inserted
    expect(headers.find(([k]) => k === 'anthropic-beta')![1]).toBe(
      'claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
    );
    expect(names.indexOf('anthropic-beta')).toBeLessThan(names.indexOf('x-app'));
    expect(fingerprint).toEqual({
      'x-stainless-retry-count': '0',
      'x-stainless-timeout': '600',
      'x-stainless-lang': 'js',
      'x-stainless-package-version': '0.60.0',
      'x-stainless-os': 'Linux',
      'x-stainless-arch': 'x64',
      'x-stainless-runtime': 'node',
      'x-stainless-runtime-version': 'v20.19.0',
    });
  });
});

describe('anthropic-beta', () => {
  it('computes from the client value and the model', () => {
    expect(computeBetaHeader('m', 'a, claude-code-20250219 ,b')).toBe('a,claude-code-20250219,oauth-2025-04-20,b');
    expect(computeBetaHeader('m', 'x')).toBe('oauth-2025-04-20,x');
    expect(computeBetaHeader('m', 'oauth-2025-04-20, x')).toBe('oauth-2025-04-20, x');
    expect(computeBetaHeader('claude-3-5-HAIKU', undefined)).toBe('oauth-2025-04-20,interleaved-thinking-2025-05-14');
  });
});

describe('console upstream headers match the recorded axios wire order', () => {
  for (const name of ['07-messages-nonstream-console', '08-messages-stream-console', '10-claude-code-style-stream-pool', '13-count-tokens-console', '38-upstream-401-console']) {
    it(name, () => {
      const up = traceUpstream(name)[0]!;
      const headers = buildConsoleHeaders({
        clientHeaders: clientHeadersOf(name),
        accountUserAgent: 'claude-cli/1.0.69 (external, cli)',
        accountApiKey: 'sk-ant-api03-LAB-MOCK-CONSOLE-KEY',
        contentLength: Buffer.byteLength(up.bodyRaw),
        host: '127.0.0.1:18080',
      });
      expect(headers).toEqual(pairs(up.rawHeaders));
    });
  }

  it('uses Bearer auth for non sk-ant keys and keeps a client accept-encoding in place', () => {
    const headers = buildConsoleHeaders({
      clientHeaders: { 'accept-encoding': 'gzip', 'api-key': 'cr_leak', authorization: 'Bearer cr_x' },
      accountUserAgent: undefined,
      accountApiKey: 'other-key',
      contentLength: 2,
      host: 'h',
    });
    expect(headers).toEqual([
      ['Accept', 'application/json, text/plain, */*'],
      ['Content-Type', 'application/json'],
      ['anthropic-version', '2023-06-01'],
      ['User-Agent', 'claude-cli/2.0.52 (external, cli)'],
      ['accept-encoding', 'gzip'],
      ['api-key', 'cr_leak'],
      ['Authorization', 'Bearer other-key'],
      ['Content-Length', '2'],
      ['Host', 'h'],
      ['Connection', 'keep-alive'],
    ]);
  });
});
