import { AccountCipher } from '../crypto/account-crypto.js';
import type { AccountKind } from '../storage/keys.js';

/**
 * AccountCipher whose `decrypt` remembers its answers (a pure function of the stored value):
 * the account credential is decrypted once, not on every request. Bounded; oldest dropped first.
 */
export class MemoCipher extends AccountCipher {
  private readonly memo = new Map<string, string>();
  private readonly maxEntries = 1000;

  override decrypt(kind: Exclude<AccountKind, 'bedrock'>, stored: string | null | undefined): string {
    if (!stored) return '';
    const key = `${kind}|${stored}`;
    let plain = this.memo.get(key);
    if (plain === undefined) {
      plain = super.decrypt(kind, stored);
      if (this.memo.size >= this.maxEntries) {
        const oldest = this.memo.keys().next().value;
        if (oldest !== undefined) this.memo.delete(oldest);
      }
      this.memo.set(key, plain);
    }
    return plain;
  }
}
