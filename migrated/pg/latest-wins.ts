/**
 * Per-key "latest wins" write coalescing: at most one write per key in flight. A value submitted
 * for a key whose write is in flight replaces that key's pending value (the newest submission is
 * the newest state); when the in-flight write finishes, the pending one (if any) is sent. Keys never
 * wait for each other. Each submitter's promise resolves with the outcome of the write that carried
 * its value or a newer one (never before the state it submitted, or a newer one, was attempted).
 * `send` is expected to log its own failures; a rejection counts as a failure and never blocks the key.
 *
 * `minSpacingMs`: a key's next write starts at least this long after its previous one started (the
 * pending value keeps being replaced meanwhile). A key written less often than that is never delayed;
 * a hot key gets one write per interval carrying its newest value instead of one per submission.
 */
export type WriteFn<T> = (key: string, value: T) => Promise<boolean>;

export interface LatestWinsStats {
  /** submit() calls */
  submitted: number;
  /** writes sent (submitted - sent = values replaced by a newer one before being sent) */
  sent: number;
}

/** One write's value and the promise its submitters share (settles with that write's outcome). */
interface Batch<T> {
  value: T;
  done: Promise<boolean>;
  settle: (ok: boolean) => void;
}

interface Slot<T> {
  /** the key's write loop; settles when the key has nothing in flight and nothing pending */
  done: Promise<void>;
  pending: Batch<T> | null;
}

function batchOf<T>(value: T): Batch<T> {
  let settle!: (ok: boolean) => void;
  const done = new Promise<boolean>((resolve) => (settle = resolve));
  return { value, done, settle };
}

/**
 * Submitters of one write share one promise: a hot key costs one promise per write, not one per submission
 * (a promise per request, waiting up to `minSpacingMs`, would outlive V8's young generation and be promoted).
 */
export class LatestWins<T> {
  readonly stats: LatestWinsStats = { submitted: 0, sent: 0 };
  private readonly slots = new Map<string, Slot<T>>();

  constructor(
    private readonly write: WriteFn<T>,
    private readonly opts: { minSpacingMs?: number } = {},
  ) {}

  submit(key: string, value: T): Promise<boolean> {
    this.stats.submitted++;
    const slot = this.slots.get(key);
    if (!slot) {
      const first = batchOf(value);
      const fresh: Slot<T> = { done: Promise.resolve(), pending: null };
      this.slots.set(key, fresh);
      fresh.done = this.drive(key, fresh, first);
      return first.done;
    }
    if (slot.pending) {
      slot.pending.value = value;
      return slot.pending.done;
    }
    slot.pending = batchOf(value);
    return slot.pending.done;
  }

  /** Whether `key` has a write in flight or waiting (a submission now would not be sent at once). */
  busy(key: string): boolean {
    return this.slots.has(key);
  }

  /** Keys with a write in flight. */
  get inFlight(): number {
    return this.slots.size;
  }

  /** Resolves when `key` has nothing in flight and nothing pending. */
  async settled(key: string): Promise<void> {
    while (this.slots.has(key)) await this.slots.get(key)!.done;
  }

  /** Resolves when every write submitted so far (and any submitted meanwhile) has finished. */
  async flush(): Promise<void> {
    while (this.slots.size > 0) await Promise.all([...this.slots.values()].map((s) => s.done));
  }

  private async drive(key: string, slot: Slot<T>, first: Batch<T>): Promise<void> {
    let batch = first;
    const spacing = this.opts.minSpacingMs ?? 0;
    for (;;) {
      this.stats.sent++;
      const startedAt = performance.now();
      let ok = false;
      try {
        ok = await this.write(key, batch.value);
      } catch {
        ok = false;
      }
      batch.settle(ok);
      const wait = slot.pending ? spacing - (performance.now() - startedAt) : 0;
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const next = slot.pending;
      if (!next) break;
      slot.pending = null;
      batch = next;
    }
    this.slots.delete(key);
  }
}
