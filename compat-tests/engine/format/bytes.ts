import * as v from 'valibot';

/**
 * Exact bytes on disk. Text that survives a UTF-8 round trip is stored readable (`utf8`),
 * anything else as `base64`, so a recorded body is always reproduced byte for byte.
 */
export const BytesSchema = v.union([
  v.strictObject({ utf8: v.string() }),
  v.strictObject({ base64: v.string() }),
]);
export type StoredBytes = v.InferOutput<typeof BytesSchema>;

export function encodeBytes(buf: Buffer | Uint8Array | string): StoredBytes {
  const b = typeof buf === 'string' ? Buffer.from(buf, 'utf8') : Buffer.from(buf);
  const text = b.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(b)) return { utf8: text };
  return { base64: b.toString('base64') };
}

export function decodeBytes(stored: StoredBytes): Buffer {
  return 'utf8' in stored ? Buffer.from(stored.utf8, 'utf8') : Buffer.from(stored.base64, 'base64');
}
