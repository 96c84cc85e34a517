import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { CCR_ID, storeCcr } from '../relay-bedrock/provider-accounts.test-helper.js';
import createClaudeMessagesModule from '../relay-claude/messages-module.js';
import { KEYS, serveRelay } from '../relay-claude/relay-harness.test-helper.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { startConnectProxy, type CountingProxy } from '../upstream/proxy-policy.test-helper.js';

/**
 * The CCR relay's proxy (ccrAccountService._createProxyAgent → createProxyAgentWithFallback): the
 * account's proxy, else the GLOBAL_PROXY_* one; group and proxy_policy_config proxies do not apply.
 * The account's apiUrl is the mock upstream itself (no upstreamOverride, so the real path is taken).
 */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const f = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT });
let envProxy: CountingProxy;
let accountProxy: CountingProxy;
beforeAll(async () => {
  envProxy = await startConnectProxy();
  accountProxy = await startConnectProxy();
});
afterAll(async () => {
  await envProxy.close();
  await accountProxy.close();
});

const headers: Array<[string, string]> = [
  ['Host', '127.0.0.1:3000'],
  ['x-api-key', KEYS.pool],
  ['content-type', 'application/json'],
];

/** One `ccr,` request with GLOBAL_PROXY_* pointing at envProxy; the CONNECTs each proxy saw, and the mock's request. */
async function relayOnce(accountFields: Record<string, string>) {
  await storeCcr(f.redis, { apiUrl: `${f.mock.url}/v1/messages`, ...accountFields });
  const env = { GLOBAL_PROXY_TYPE: 'HTTP', GLOBAL_PROXY_HOST: '127.0.0.1', GLOBAL_PROXY_PORT: String(envProxy.port) };
  const h = await serveRelay(createClaudeMessagesModule, f.redis, { atMs: AT, upstreamOverride: '', env });
  const before = [envProxy.connects, accountProxy.connects];
  const seq = f.mark();
  try {
    const res = await send(h.port, 'POST', '/api/v1/messages', headers, JSON.stringify({ model: 'ccr,claude-sonnet-4-5', messages: [{ role: 'user', content: 'via proxy?' }] }));
    expect(res.status).toBe(200);
  } finally {
    await h.close();
  }
  const up = f.upstreamAfter(seq);
  expect(up).toHaveLength(1);
  expect(up[0]!.headers['host']).toBe(`127.0.0.1:${f.mock.port}`);
  return { env: envProxy.connects - before[0]!, account: accountProxy.connects - before[1]! };
}

describe('CCR relay proxy', () => {
  it('no account proxy: GLOBAL_PROXY_* carries the upstream call (a policy global proxy is ignored)', async () => {
    await f.redis.set('proxy_policy_config', JSON.stringify({ globalAccountProxy: { type: 'http', host: '127.0.0.1', port: accountProxy.port } }));
    expect(await relayOnce({ proxy: '' })).toEqual({ env: 1, account: 0 });
  });

  it("the account's proxy wins over GLOBAL_PROXY_*", async () => {
    expect(await relayOnce({ proxy: JSON.stringify({ type: 'http', host: '127.0.0.1', port: accountProxy.port }) })).toEqual({ env: 0, account: 1 });
  });

  it('an unusable account proxy means direct, not the env fallback', async () => {
    expect(await relayOnce({ proxy: JSON.stringify({ type: 'ftp', host: '127.0.0.1', port: accountProxy.port }) })).toEqual({ env: 0, account: 0 });
  });
});
