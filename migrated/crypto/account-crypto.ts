import { createCipheriv, createDecipheriv, createHash, scryptSync } from 'node:crypto';
import type { IdSource } from '../runtime/ids.js';
import type { AccountKind } from '../storage/keys.js';

/**
 * Upstream-account credential encryption, interoperable with the legacy (crypto.md §3):
 * AES-256-CBC, key = scrypt(ENCRYPTION_KEY, per-type salt, 32) with Node defaults
 * (N=16384, r=8, p=1), random 16-byte IV, stored as `hex(iv):hex(cipher)`; empty plaintext
 * is stored as ''. Bedrock uses key = SHA-256(ENCRYPTION_KEY) and a `{encrypted, iv}` object.
 *
 * Decrypt failure results differ per type exactly as in the legacy: Claude, Claude Console and
 * CCR return the stored string unchanged; every other type returns ''.
 * Keys are derived lazily once per salt and cached in the instance (scrypt costs ~50 ms).
 * The legacy's 5-minute decrypt LRU is not reproduced (a pure optimisation; our decrypt is
 * deterministic so results are identical).
 */

export const ACCOUNT_SALTS: Record<Exclude<AccountKind, 'bedrock'>, string> = {
  claude: 'salt',
  'claude-console': 'claude-console-salt',
  ccr: 'ccr-account-salt',
  openai: 'openai-account-salt',
  'openai-responses': 'openai-responses-salt',
  gemini: 'gemini-account-salt',
  'gemini-api': 'gemini-api-salt',
  'azure-openai': 'azure-openai-account-default-salt',
  droid: 'droid-account-salt',
};

/** Types whose decrypt failure returns the stored string unchanged (others return ''). */
const PASSTHROUGH_ON_FAILURE = new Set<AccountKind>(['claude', 'claude-console', 'ccr']);

export interface BedrockCredentialsBlob {
  encrypted: string;
  iv: string;
}

export class AccountCipher {
  private readonly derived = new Map<string, Buffer>();

  /**
   * @param encryptionKey ENCRYPTION_KEY
   * @param azureSalt config.security.azureOpenaiSalt when set (absent in the example config)
   */
  constructor(
    private readonly encryptionKey: string,
    private readonly ids: Pick<IdSource, 'randomBytes'>,
    private readonly azureSalt?: string,
  ) {}

  private saltOf(kind: Exclude<AccountKind, 'bedrock'>): string {
    if (kind === 'azure-openai' && this.azureSalt) return this.azureSalt;
    return ACCOUNT_SALTS[kind];
  }

  /** The 32-byte key for a type (exposed for the vector tests). */
  keyFor(kind: AccountKind): Buffer {
    const cacheKey = kind === 'bedrock' ? '\0bedrock' : this.saltOf(kind);
    let k = this.derived.get(cacheKey);
    if (!k) {
      k =
        kind === 'bedrock'
          ? createHash('sha256').update(this.encryptionKey).digest()
          : scryptSync(this.encryptionKey, this.saltOf(kind), 32);
      this.derived.set(cacheKey, k);
    }
    return k;
  }

  /** `hex(iv):hex(cipher)`; '' for empty input. `iv` may be given (tests); else random. */
  encrypt(kind: Exclude<AccountKind, 'bedrock'>, plaintext: string | null | undefined, iv?: Buffer): string {
    if (!plaintext) return '';
    const ivBytes = iv ?? this.ids.randomBytes(16);
    const c = createCipheriv('aes-256-cbc', this.keyFor(kind), ivBytes);
    return `${ivBytes.toString('hex')}:${Buffer.concat([c.update(plaintext, 'utf8'), c.final()]).toString('hex')}`;
  }

  /** Split the stored form per the type's legacy rule; null when the format is rejected. */
  private split(kind: AccountKind, stored: string): { iv: string; cipher: string } | null {
    switch (kind) {
      case 'claude':
      case 'claude-console':
      case 'ccr': {
        const parts = stored.split(':');
        return parts.length === 2 ? { iv: parts[0]!, cipher: parts[1]! } : null;
      }
      case 'openai':
        return stored.length >= 33 && stored[32] === ':' ? { iv: stored.slice(0, 32), cipher: stored.slice(33) } : null;
      case 'gemini':
        return { iv: stored.slice(0, 32), cipher: stored.slice(33) };
      case 'azure-openai': {
        const iv = stored.slice(0, 32);
        const cipher = stored.slice(33);
        return iv.length === 32 && cipher ? { iv, cipher } : null;
      }
      default: {
        const parts = stored.split(':');
        return { iv: parts[0] ?? '', cipher: parts[1] ?? '' };
      }
    }
  }

  /**
   * Decrypt a stored credential. Empty input -> ''. Failure -> stored string (claude,
   * claude-console, ccr) or '' (others). The Claude pre-IV `createDecipher` format is not
   * supported (Node >= 22 lacks it); such values fall through to "unchanged", as the legacy
   * itself does on Node 22.
   */
  decrypt(kind: Exclude<AccountKind, 'bedrock'>, stored: string | null | undefined): string {
    if (!stored) return '';
    const fail = PASSTHROUGH_ON_FAILURE.has(kind) ? stored : '';
    const parts = this.split(kind, stored);
    if (!parts) return fail;
    try {
      const d = createDecipheriv('aes-256-cbc', this.keyFor(kind), Buffer.from(parts.iv, 'hex'));
      return Buffer.concat([d.update(Buffer.from(parts.cipher, 'hex')), d.final()]).toString('utf8');
    } catch {
      return fail;
    }
  }

  /** Bedrock: `{encrypted, iv}` of JSON.stringify(credentials) under SHA-256(ENCRYPTION_KEY). */
  encryptBedrock(credentials: Record<string, unknown>, iv?: Buffer): BedrockCredentialsBlob {
    const ivBytes = iv ?? this.ids.randomBytes(16);
    const c = createCipheriv('aes-256-cbc', this.keyFor('bedrock'), ivBytes);
    const encrypted = Buffer.concat([c.update(JSON.stringify(credentials), 'utf8'), c.final()]).toString('hex');
    return { encrypted, iv: ivBytes.toString('hex') };
  }

  /** Bedrock decrypt: blob -> object; plaintext `{accessKeyId…}` passes through; else throws. */
  decryptBedrock(blob: unknown): Record<string, unknown> {
    if (blob && typeof blob === 'object') {
      const b = blob as Record<string, unknown>;
      if (typeof b.encrypted === 'string' && typeof b.iv === 'string') {
        const d = createDecipheriv('aes-256-cbc', this.keyFor('bedrock'), Buffer.from(b.iv, 'hex'));
        const text = Buffer.concat([d.update(Buffer.from(b.encrypted, 'hex')), d.final()]).toString('utf8');
        return JSON.parse(text) as Record<string, unknown>;
      }
      if ('accessKeyId' in b) return b;
    }
    throw new Error('Invalid AWS credentials format');
  }
}
