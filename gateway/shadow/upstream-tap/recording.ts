import { EventEmitter } from 'node:events';

/**
 * One upstream exchange seen by the tap on the primary's side: the request bytes as sent and
 * the upstream's answer as it arrives (chunks keep their boundaries). A recording is live until
 * `finish()`/`fail()`: a reader can start before the upstream has finished answering.
 */
export interface RecordedChunk {
  tMs: number;
  bytes: Buffer;
}

export interface RecordedRequest {
  method: string;
  /** Path and query as received by the tap. */
  url: string;
  rawHeaders: string[];
  body: Buffer;
}

export class UpstreamRecording extends EventEmitter {
  readonly id: string;
  readonly startedAt: number;
  status = 0;
  statusMessage = '';
  rawHeaders: string[] = [];
  readonly chunks: RecordedChunk[] = [];
  done = false;
  error: string | undefined;
  private readonly t0 = performance.now();

  constructor(
    readonly key: string,
    readonly request: RecordedRequest,
    seq: number,
    startedAt: number,
  ) {
    super();
    this.id = `up-${seq}`;
    this.startedAt = startedAt;
    this.setMaxListeners(0);
  }

  head(status: number, statusMessage: string, rawHeaders: string[]): void {
    this.status = status;
    this.statusMessage = statusMessage;
    this.rawHeaders = rawHeaders;
    this.emit('head');
  }

  chunk(bytes: Buffer): void {
    const c = { tMs: Math.round((performance.now() - this.t0) * 1000) / 1000, bytes };
    this.chunks.push(c);
    this.emit('chunk', c);
  }

  finish(): void {
    this.done = true;
    this.emit('end');
  }

  fail(message: string): void {
    this.error = message;
    this.done = true;
    this.emit('end');
  }

  body(): Buffer {
    return Buffer.concat(this.chunks.map((c) => c.bytes));
  }

  /** Resolves once the status line and headers are known (or the exchange failed). */
  headReady(): Promise<void> {
    if (this.status || this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const go = () => {
        this.off('head', go);
        this.off('end', go);
        resolve();
      };
      this.on('head', go);
      this.on('end', go);
    });
  }
}

/** Canonical JSON (object keys sorted) when the body is JSON, else the raw bytes as latin1. */
export function normaliseBody(body: Buffer): string {
  if (body.length === 0) return '';
  try {
    return canonicalJson(JSON.parse(body.toString('utf8')));
  } catch {
    return body.toString('latin1');
  }
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as Record<string, unknown>)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The matching key: method, path with query, normalised body. */
export function matchKey(method: string, url: string, body: Buffer): string {
  return `${method.toUpperCase()} ${url}\n${normaliseBody(body)}`;
}

/**
 * Bounded store of recent recordings: at most `max` (oldest evicted), each kept `ttlMs`.
 * Lookup by key returns the most recent; `between()` lists those started in a time window.
 */
export class RecordingStore {
  private readonly list: UpstreamRecording[] = [];
  private seq = 0;

  constructor(
    private readonly max = 500,
    private readonly ttlMs = 10 * 60_000,
  ) {}

  add(key: string, request: RecordedRequest, now: number): UpstreamRecording {
    const rec = new UpstreamRecording(key, request, ++this.seq, now);
    this.list.push(rec);
    this.evict(now);
    return rec;
  }

  byKey(key: string, now: number): UpstreamRecording | undefined {
    this.evict(now);
    for (let i = this.list.length - 1; i >= 0; i--) if (this.list[i]!.key === key) return this.list[i];
    return undefined;
  }

  between(fromMs: number, toMs: number): UpstreamRecording[] {
    return this.list.filter((r) => r.startedAt >= fromMs && r.startedAt <= toMs);
  }

  get size(): number {
    return this.list.length;
  }

  private evict(now: number): void {
    while (this.list.length > this.max || (this.list[0] && now - this.list[0].startedAt > this.ttlMs)) this.list.shift();
  }
}
