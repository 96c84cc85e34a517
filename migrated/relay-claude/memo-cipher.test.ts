import { describe, expect, it } from 'vitest';
import { AccountCipher } from '../crypto/account-crypto.js';
import { scriptedIds } from '../runtime/ids.js';
import { MemoCipher } from './memo-cipher.js';

describe('MemoCipher', () => {
  it('answers exactly what AccountCipher answers (values, failures, empty), decrypting each stored value once', () => {
    const plain = new AccountCipher('lab-encryption-key-32chars-00000', scriptedIds(1));
    const memo = new MemoCipher('lab-encryption-key-32chars-00000', scriptedIds(1));
    const stored = plain.encrypt('claude-console', 'sk-ant-api03-secret');
    const other = plain.encrypt('claude', 'oauth-token');
    let calls = 0;
    const base = Object.getPrototypeOf(MemoCipher.prototype) as AccountCipher;
    const original = base.decrypt;
    base.decrypt = function (this: AccountCipher, ...a: Parameters<AccountCipher['decrypt']>) {
      calls++;
      return original.apply(this, a);
    };
    try {
      for (let i = 0; i < 3; i++) {
        expect(memo.decrypt('claude-console', stored)).toBe('sk-ant-api03-secret');
        expect(memo.decrypt('claude', other)).toBe('oauth-token');
        expect(memo.decrypt('claude-console', 'not:hex')).toBe(original.call(plain, 'claude-console', 'not:hex'));
        expect(memo.decrypt('claude-console', '')).toBe('');
      }
    } finally {
      base.decrypt = original;
    }
    expect(calls).toBe(3);
  });
});
