import { randomBytes, randomUUID } from 'node:crypto';

/**
 * Identifiers and randomness as a dependency: UUIDs (new keys, accounts, records),
 * random bytes (API-key secrets, IVs, session tokens) and the legacy's X-Request-ID.
 * Replays substitute a deterministic source.
 */
export interface IdSource {
  uuid(): string;
  randomBytes(size: number): Buffer;
  /** Legacy request id: base-36 digits of a random fraction, 2..13 chars (Math.random().toString(36) shape). */
  requestId(): string;
  /** A float in [0, 1) for sampling and jitter decisions that the legacy makes with Math.random(). */
  random(): number;
}

export function systemIds(): IdSource {
  return {
    uuid: () => randomUUID(),
    randomBytes: (size) => randomBytes(size),
    requestId: () => Math.random().toString(36).substring(2, 15),
    random: () => Math.random(),
  };
}

/**
 * Deterministic ids: UUIDs and bytes derived from a seed and a counter, so two runs of the
 * same replay produce the same values. Pre-seeded queues let a replay hand out the exact
 * ids a recorded exchange used.
 */
export interface ScriptedIds extends IdSource {
  queueUuids(...ids: string[]): void;
  queueRequestIds(...ids: string[]): void;
}

export function scriptedIds(seed = 1): ScriptedIds {
  let counter = 0;
  let state = seed >>> 0 || 1;
  const uuids: string[] = [];
  const requestIds: string[] = [];
  const nextFloat = (): number => {
    // xorshift32: deterministic, good enough for test ids
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const bytes = (size: number): Buffer => {
    const out = Buffer.alloc(size);
    for (let i = 0; i < size; i++) out[i] = Math.floor(nextFloat() * 256);
    return out;
  };
  return {
    uuid() {
      const queued = uuids.shift();
      if (queued) return queued;
      counter++;
      const hex = counter.toString(16).padStart(12, '0');
      return `00000000-0000-4000-8000-${hex}`;
    },
    randomBytes: bytes,
    requestId() {
      return requestIds.shift() ?? nextFloat().toString(36).substring(2, 15);
    },
    random: nextFloat,
    queueUuids(...ids) {
      uuids.push(...ids);
    },
    queueRequestIds(...ids) {
      requestIds.push(...ids);
    },
  };
}
