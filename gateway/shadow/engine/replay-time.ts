import type { Clock } from '../../../migrated/runtime/clock.js';
import { systemIds, type IdSource } from '../../../migrated/runtime/ids.js';

/**
 * The candidate runs after the primary (serially, after settling), so by itself it would see a
 * later time and make its own request id. Like the offline replayer (frozen clock, scripted
 * ids), the shadow gives the candidate the primary's moment and the primary's X-Request-ID:
 * during a run, `now()` is the client request's arrival plus the time elapsed since the
 * candidate started, and the first `requestId()` is the primary's. Outside a run: system time.
 * One stable object per engine (the gateway builds the candidate module once per deps object);
 * the run context is set by the engine, candidate runs being serial.
 */
export class CandidateTime {
  readonly clock: Clock;
  readonly ids: IdSource;
  private run: { arrivedAt: number; startedAt: number; requestIds: string[] } | null = null;

  constructor(timezoneOffsetHours: number, now: () => number = Date.now, base: IdSource = systemIds()) {
    this.clock = {
      now: () => (this.run ? this.run.arrivedAt + (now() - this.run.startedAt) : now()),
      timezoneOffsetHours,
    };
    this.ids = {
      uuid: () => base.uuid(),
      randomBytes: (n) => base.randomBytes(n),
      requestId: () => this.run?.requestIds.shift() ?? base.requestId(),
      random: () => base.random(),
    };
    this.nowFn = now;
  }

  private readonly nowFn: () => number;

  begin(arrivedAt: number, primaryRequestId: string | undefined): void {
    this.run = { arrivedAt, startedAt: this.nowFn(), requestIds: primaryRequestId ? [primaryRequestId] : [] };
  }

  end(): void {
    this.run = null;
  }
}

/** First value of a header in a flat raw list, by case-insensitive name. */
export function rawHeaderValue(raw: readonly string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) return raw[i + 1];
  return undefined;
}
