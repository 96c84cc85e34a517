/**
 * Time as a dependency. Business code never calls Date.now() directly: it asks a Clock,
 * so the compatibility suites can freeze time at the moment an exchange was recorded.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Legacy TIMEZONE_OFFSET in hours (default 8), used for every date-bucketed Redis key. */
  readonly timezoneOffsetHours: number;
}

export function systemClock(timezoneOffsetHours: number): Clock {
  return { now: () => Date.now(), timezoneOffsetHours };
}

/** A clock that stands still at `atMs` until advanced; used by replays and tests. */
export interface FrozenClock extends Clock {
  set(atMs: number): void;
  advance(ms: number): void;
}

export function frozenClock(atMs: number, timezoneOffsetHours = 8): FrozenClock {
  let current = atMs;
  return {
    now: () => current,
    timezoneOffsetHours,
    set(ms) {
      current = ms;
    },
    advance(ms) {
      current += ms;
    },
  };
}
