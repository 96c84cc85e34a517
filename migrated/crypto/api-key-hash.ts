import { hash } from 'node:crypto';
import type { IdSource } from '../runtime/ids.js';

/**
 * API-key hashing (legacy src/services/apiKeyService.js `_hashApiKey`): SHA-256 over the UTF-8
 * string `rawKey + ENCRYPTION_KEY`, lower-case hex. No HMAC, no per-key salt. One-shot `crypto.hash`
 * (Node >= 20.12): no Hash object per call, on the path before every upstream request.
 */
export function hashApiKey(rawKey: string, encryptionKey: string): string {
  return hash('sha256', rawKey + encryptionKey, 'hex');
}

/** A new raw key: prefix + 32 random bytes as hex (67 chars with `cr_`). */
export function generateRawApiKey(ids: Pick<IdSource, 'randomBytes'>, prefix = 'cr_'): string {
  return prefix + ids.randomBytes(32).toString('hex');
}

/** SHA-256 hex of a string (session hashes, droid key dedup). */
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
