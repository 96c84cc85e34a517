import type { UpstreamResponse } from '../upstream/h1/upstream-response.js';
import type { AccountHash } from '../storage/accounts.js';
import { sendUpstream } from '../upstream/client.js';
import { resolveEffectiveProxy, resolveEffectiveProxyNow, type ProxyLookup } from '../upstream/proxy-policy.js';
import type { RelayCallBase } from './relay-call.js';

/** A request made ready for an account: where it goes, its wire headers and body. */
export interface PreparedUpstream {
  account: AccountHash;
  url: URL;
  headers: string[];
  payload: Buffer;
}

/**
 * POST a prepared request to the account's upstream, through the account's effective proxy (account, group,
 * policy, GLOBAL_PROXY_*; none with the bench/test upstream override). The proxy is resolved without waiting
 * while the policy caches are fresh, so the request is usually written in the same tick as it was prepared.
 * `platform`: the account type's default when the hash has none (`claude`, `claude-console`).
 */
export function sendToAccount(c: RelayCallBase, p: PreparedUpstream, platform: string): Promise<{ response: UpstreamResponse; abort: (err?: Error) => void }> {
  const { s } = c;
  const send = (proxy: Parameters<typeof sendUpstream>[1]['proxy']) =>
    sendUpstream(s.agents, { url: p.url, method: 'POST', headers: p.headers, body: p.payload, proxy, timeoutMs: s.settings.requestTimeoutMs, signal: c.signal });
  if (s.deps.upstreamOverride) return send(null);
  const lookup: ProxyLookup = { accountId: c.accountId, platform: p.account['platform'] || platform, accountProxy: p.account['proxy'], envFallback: s.settings.globalProxy };
  const now = resolveEffectiveProxyNow(s.proxyPolicy, lookup);
  return now ? send(now.proxy) : resolveEffectiveProxy(s.proxyPolicy, lookup).then((r) => send(r.proxy));
}
