import { describe, expect, it } from 'vitest';
import { telegramProxy } from './telegram-proxy.js';

describe('telegram proxyUrl (the legacy picks a SOCKS agent for socks* URLs, an HTTP CONNECT agent for http/https)', () => {
  it('socks: socks5 resolves locally, socks and socks5h remotely; default port 1080; credentials decoded', () => {
    expect(telegramProxy('socks5://u%40x:p%3Aw@10.0.0.1:9050')).toEqual({ kind: 'proxy', proxy: { type: 'socks5', host: '10.0.0.1', port: 9050, username: 'u@x', password: 'p:w' } });
    expect(telegramProxy('socks://proxy.lan')).toEqual({ kind: 'proxy', proxy: { type: 'socks5h', host: 'proxy.lan', port: 1080 } });
    expect(telegramProxy('socks5h://proxy.lan:1081')).toEqual({ kind: 'proxy', proxy: { type: 'socks5h', host: 'proxy.lan', port: 1081 } });
  });

  it('http: CONNECT proxy, default port 80', () => {
    expect(telegramProxy('http://proxy.lan')).toEqual({ kind: 'proxy', proxy: { type: 'http', host: 'proxy.lan', port: 80 } });
    expect(telegramProxy('http://a:b@proxy.lan:3128')).toEqual({ kind: 'proxy', proxy: { type: 'http', host: 'proxy.lan', port: 3128, username: 'a', password: 'b' } });
  });

  it('none, ignored (unparsable or another protocol: the legacy goes direct), unsupported (https proxy, socks4)', () => {
    expect(telegramProxy('')).toEqual({ kind: 'none' });
    expect(telegramProxy(undefined)).toEqual({ kind: 'none' });
    expect(telegramProxy('not a url').kind).toBe('ignored');
    expect(telegramProxy('ftp://proxy.lan').kind).toBe('ignored');
    expect(telegramProxy('https://proxy.lan').kind).toBe('unsupported');
    expect(telegramProxy('socks4://proxy.lan').kind).toBe('unsupported');
    expect(telegramProxy('socks4a://proxy.lan').kind).toBe('unsupported');
  });
});
