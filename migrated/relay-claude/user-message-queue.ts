import type { RelayConfig } from '../auth/relay-config.js';
import { UserMessageQueue } from '../locks/user-message-queue.js';
import type { RelayServices } from './relay-services.js';

/**
 * The user-message queue around one upstream call (concurrency-locks-queues.md §5,
 * userMessageQueueService + its callers in the Claude official and Console relays): a request whose
 * last message is a real user turn waits for the per-account lock `user_msg_queue_lock:{accountId}`
 * (and the delay since `user_msg_queue_last:{accountId}`), holds it until the upstream answered,
 * and always lets it go.
 *
 * Cost when the feature is off (the default): the body check, then the relay config read, which is
 * the 60 s in-process cache of `claude_relay_config` (one GET per minute per process, as the legacy).
 */

export interface QueueSettings {
  enabled: boolean;
  delayMs: number;
  timeoutMs: number;
  lockTtlMs: number;
}

/**
 * getConfig of the legacy: every field of `claude_relay_config` wins over USER_MESSAGE_QUEUE_* when
 * it is not undefined. The stored config is always merged over defaults that define all four
 * fields, so the environment values are never reached (QUIRKS: the env settings are dead).
 */
export function queueSettings(cfg: RelayConfig): QueueSettings {
  return {
    enabled: cfg['userMessageQueueEnabled'] === true,
    delayMs: Number(cfg['userMessageQueueDelayMs']),
    timeoutMs: Number(cfg['userMessageQueueTimeoutMs']),
    lockTtlMs: Number(cfg['userMessageQueueLockTtlMs']),
  };
}

/** isUserMessageRequest: last message has role `user` and no tool_result / tool_use_result block. */
export function isUserMessageRequest(body: Record<string, unknown>): boolean {
  const messages = body['messages'];
  if (!Array.isArray(messages) || messages.length === 0) return false;
  const last = messages[messages.length - 1] as { role?: unknown; content?: unknown } | null;
  if (last?.role !== 'user') return false;
  if (!Array.isArray(last.content)) return true;
  return !last.content.some((b: { type?: unknown } | null) => b?.type === 'tool_result' || b?.type === 'tool_use_result');
}

export type QueueErrorType = 'queue_timeout' | 'queue_backend_error';

/** The answer the relays give when the lock could not be had. */
export interface QueueRejection {
  status: 503 | 500;
  errorType: QueueErrorType;
  /** `{type:'error', error:{type, code, message}}` serialised. */
  body: string;
}

export function queueRejection(errorType: QueueErrorType): QueueRejection {
  const backend = errorType === 'queue_backend_error';
  return {
    status: backend ? 500 : 503,
    errorType,
    body: JSON.stringify({
      type: 'error',
      error: {
        type: errorType,
        code: backend ? 'QUEUE_BACKEND_ERROR' : 'QUEUE_TIMEOUT',
        message: backend ? 'Queue service temporarily unavailable, please retry later' : 'User message queue wait timeout, please retry later',
      },
    }),
  };
}

/** A held (or skipped) place: `release()` is idempotent and never throws. */
export interface QueueGate {
  release(): Promise<void>;
}

const PASS: QueueGate = { release: async () => undefined };

export type QueueEntry = { kind: 'pass'; gate: QueueGate } | { kind: 'rejected'; rejection: QueueRejection };

const PASS_ENTRY: QueueEntry = { kind: 'pass', gate: PASS };

export interface WaitTools {
  /** Monotonic milliseconds for the wait bound (the relay clock is frozen in replays). */
  elapsed(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

const realWait = (random: () => number): WaitTools => {
  const start = performance.now();
  return {
    elapsed: () => performance.now() - start,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms))),
    random,
  };
};

/**
 * acquireQueueLock: poll the acquire script until `timeoutMs`; a positive wait is the delay left
 * since the last release, -1 means held by someone: back off 50 ms × 1.5^n (max 500) with ±15 %
 * jitter. A Redis error ends the wait at once with `queue_backend_error`.
 */
export async function acquireUserMessageLock(queue: UserMessageQueue, accountId: string, requestId: string, cfg: QueueSettings, wait: WaitTools): Promise<'acquired' | QueueErrorType> {
  let retry = 0;
  while (wait.elapsed() < cfg.timeoutMs) {
    const r = await queue.tryAcquire(accountId, requestId, cfg.lockTtlMs, cfg.delayMs);
    if (r.redisError) return 'queue_backend_error';
    if (r.acquired) return 'acquired';
    if (r.waitMs > 0) await wait.sleep(Math.min(r.waitMs, cfg.timeoutMs - wait.elapsed()));
    else {
      const base = Math.min(50 * 1.5 ** retry, 500);
      await wait.sleep(Math.min(base * (0.85 + wait.random() * 0.3), 500));
      retry++;
    }
  }
  return 'queue_timeout';
}

/** Enter the queue for one relay call on `accountId` (skipped unless enabled and a user turn). */
export async function enterUserMessageQueue(s: RelayServices, accountId: string, body: Record<string, unknown>): Promise<QueueEntry> {
  if (!isUserMessageRequest(body)) return PASS_ENTRY;
  const cfg = queueSettings(await s.relayConfig.get());
  if (!cfg.enabled) return PASS_ENTRY;
  const queue = new UserMessageQueue(s.redis());
  const requestId = s.deps.ids.uuid();
  const outcome = await acquireUserMessageLock(queue, accountId, requestId, cfg, realWait(() => s.deps.ids.random()));
  if (outcome !== 'acquired') {
    s.deps.log.warn({ accountId, errorType: outcome }, 'user message queue: lock not acquired');
    return { kind: 'rejected', rejection: queueRejection(outcome) };
  }
  let held = true;
  return {
    kind: 'pass',
    gate: {
      async release() {
        if (!held) return;
        held = false;
        try {
          if (!(await queue.release(accountId, requestId))) s.deps.log.warn({ accountId, requestId }, 'user message queue: lock no longer ours at release');
        } catch (err) {
          s.deps.log.error({ err, accountId }, 'user message queue: release failed');
        }
      },
    },
  };
}

/** Run one relay call inside the queue: `rejected` answers a refusal, the gate is released whatever happens. */
export async function inUserMessageQueue<T>(s: RelayServices, accountId: string, body: Record<string, unknown>, rejected: (r: QueueRejection) => T, run: (gate: QueueGate) => Promise<T>): Promise<T> {
  const q = await enterUserMessageQueue(s, accountId, body);
  if (q.kind === 'rejected') return rejected(q.rejection);
  try {
    return await run(q.gate);
  } finally {
    await q.gate.release();
  }
}
