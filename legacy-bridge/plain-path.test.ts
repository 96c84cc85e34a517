import { describe, expect, it } from 'vitest';
import { isPlainPath } from './bridge.js';

/** What http-proxy sends for a path it normalizes: WHATWG URL pathname + search (an empty `?` dropped). */
const normalized = (url: string) => {
  const u = new URL(url.startsWith('//') ? `http://base.invalid${url}` : url, 'http://base.invalid');
  return `${u.pathname}${u.search}`;
};

describe('isPlainPath (paths passed on without a URL parse)', () => {
  const plain = [
    '/api/v1/messages',
    '/claude/v1/messages/count_tokens?beta=true',
    '/gemini/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse&key=abc',
    '/admin/claude-accounts/6f1c/reset-status',
    '/a%20b/%E2%82%AC?q=%2F&x=1,2;3@4!$(*)+',
    '/file.json',
    '//double/slash',
    '/',
  ];
  it.each(plain)('%s is plain and unchanged by the parse', (url) => {
    expect(isPlainPath(url)).toBe(true);
    expect(normalized(url)).toBe(url);
  });

  const changed = ['/a/../b', '/a/./b', '/a/%2e%2E/b', '/a\\b', '/a b', '/a"b', '/a{b}', "/q?x='1'", '/x#frag', '/é', '*', 'http://h/x', '/a/..'];
  it.each(changed)('%s goes through the normalizing proxy', (url) => {
    expect(isPlainPath(url)).toBe(false);
  });
});
