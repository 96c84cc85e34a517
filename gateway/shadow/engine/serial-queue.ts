/**
 * Runs jobs one at a time, in arrival order, with a bounded backlog: push() returns the job's
 * completion, or null when the backlog is full (the caller counts the drop).
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly maxBacklog: number) {}

  push(job: () => Promise<void>): Promise<void> | null {
    if (this.waiting >= this.maxBacklog) return null;
    this.waiting++;
    const run = this.tail.then(job).finally(() => {
      this.waiting--;
    });
    this.tail = run.catch(() => {});
    return run;
  }

  get backlog(): number {
    return this.waiting;
  }

  idle(): Promise<void> {
    return this.tail;
  }
}
