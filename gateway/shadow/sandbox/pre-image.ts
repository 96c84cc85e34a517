/**
 * A key's value as it was before the primary first wrote it during a sampled request:
 * `DUMP` payload (null: the key did not exist) and `PTTL` in ms (-1: no expiry).
 */
export interface PreImage {
  payload: Buffer | null;
  pttl: number;
}
