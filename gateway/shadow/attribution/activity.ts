import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Which client requests were being handled when. Attribution of the primary's Redis writes to
 * one request is only claimed when no other request was active during that request's window
 * (each request counts as active until `settleMs` after its response ended, because the legacy
 * records usage after responding).
 *
 * Fed from Node's `http.server.request.start` diagnostics channel, filtered to the gateway's
 * data port, so it sees every request on the data port (any route, sampled or not) without
 * touching the gateway's handler.
 */

interface Interval {
  start: number;
  end: number | null;
}

export class ActivityTracker {
  private readonly intervals: Interval[] = [];
  private listener: ((message: unknown) => void) | undefined;

  constructor(
    private readonly settleMs: number,
    private readonly now: () => number = Date.now,
    private readonly keep = 4096,
  ) {}

  /** Start observing requests arriving on `dataPort` (127.0.0.1 or any address). */
  attach(dataPort: number): this {
    this.listener = (message: unknown) => {
      const m = message as { request: IncomingMessage; response: ServerResponse; socket: Socket };
      if (m.socket?.localPort !== dataPort) return;
      const done = this.begin();
      m.response.once('close', done);
    };
    subscribe('http.server.request.start', this.listener);
    return this;
  }

  detach(): void {
    if (this.listener) unsubscribe('http.server.request.start', this.listener);
    this.listener = undefined;
  }

  /** Mark one request active; call the returned function when its response has closed. */
  begin(): () => void {
    const iv: Interval = { start: this.now(), end: null };
    this.intervals.push(iv);
    if (this.intervals.length > this.keep) {
      const i = this.intervals.findIndex((x) => x.end !== null);
      if (i >= 0) this.intervals.splice(i, 1);
    }
    return () => {
      iv.end ??= this.now();
    };
  }

  /** Requests active at some moment of [from, to] (an ended request stays active settleMs longer). */
  activeDuring(from: number, to: number): number {
    let n = 0;
    for (const iv of this.intervals) {
      const end = iv.end === null ? Number.POSITIVE_INFINITY : iv.end + this.settleMs;
      if (iv.start <= to && end >= from) n++;
    }
    return n;
  }
}
