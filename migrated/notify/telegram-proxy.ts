import type { ProxyConfig } from '../upstream/proxy.js';

/**
 * A Telegram platform's `proxyUrl` as the legacy's webhook service uses it (buildTelegramAxiosOptions):
 * `socks*:` URLs through a SOCKS agent, `http:` / `https:` URLs through an HTTP CONNECT agent, credentials
 * from the URL. An unparsable URL or another protocol is logged and ignored by the legacy (the message goes
 * direct): `ignored`. What the gateway's tunnels cannot do the same way is `unsupported` (SOCKS4, and TLS to
 * an `https:` proxy itself), so it is refused and logged rather than sent another way.
 */
export type TelegramProxy = { kind: 'proxy'; proxy: ProxyConfig } | { kind: 'none' } | { kind: 'ignored'; reason: string } | { kind: 'unsupported'; reason: string };

const SOCKS: Record<string, ProxyConfig['type'] | undefined> = {
  // socks-proxy-agent: `socks5:` resolves the target locally, `socks:` and `socks5h:` let the proxy resolve it
  'socks5:': 'socks5',
  'socks5h:': 'socks5h',
  'socks:': 'socks5h',
};

export function telegramProxy(proxyUrl: unknown): TelegramProxy {
  if (!proxyUrl) return { kind: 'none' };
  let url: URL;
  try {
    url = new URL(String(proxyUrl));
  } catch (err) {
    return { kind: 'ignored', reason: `invalid proxy URL: ${(err as Error).message}` };
  }
  const credentials = url.username ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {};
  const socks = SOCKS[url.protocol];
  if (socks) return { kind: 'proxy', proxy: { type: socks, host: url.hostname, port: Number(url.port) || 1080, ...credentials } };
  if (url.protocol === 'http:') return { kind: 'proxy', proxy: { type: 'http', host: url.hostname, port: Number(url.port) || 80, ...credentials } };
  if (url.protocol === 'https:' || url.protocol === 'socks4:' || url.protocol === 'socks4a:') return { kind: 'unsupported', reason: `${url.protocol} proxies are not supported by the gateway yet` };
  return { kind: 'ignored', reason: `unsupported Telegram proxy protocol: ${url.protocol}` };
}
