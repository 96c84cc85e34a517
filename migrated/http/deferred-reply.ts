import type { HeaderList } from './header-list.js';
import type { LegacyReply } from './reply.js';

/** A LegacyReply made on first use; `build()` makes it now (idempotent). */
export interface DeferredReply extends LegacyReply {
  build(): void;
}

/**
 * A reply whose envelope (request facts, helmet/CORS headers, the route's own additions) is worked out only when
 * something first needs it, or when `build()` is called: the relay builds it while the upstream works, so the
 * ~0.05 ms it takes on a cold streamed request is not spent between the key lookup's reply and the upstream
 * request. `make` runs once; the reply behaves exactly as the one it returns.
 *
 * A class, not an object literal with getters: V8 gives every literal with its own accessor closures a hidden
 * class of its own, allocated in the old generation, and that old object keeps the closures (and through them the
 * whole request) alive through every young-generation GC until the next full GC. Under load that promoted every
 * request's objects (docs/claude-relay.md, "Session 8: what kept requests alive until a full GC").
 */
class LazyReply implements DeferredReply {
  private made: LegacyReply | null = null;
  constructor(private make: (() => LegacyReply) | null) {}

  private real(): LegacyReply {
    if (this.made === null) {
      this.made = this.make!();
      this.make = null;
    }
    return this.made;
  }

  get requestId(): string {
    return this.real().requestId;
  }
  get headers(): HeaderList {
    return this.real().headers;
  }
  json(status: number, body: unknown): void {
    this.real().json(status, body);
  }
  jsonText(status: number, text: string): void {
    this.real().jsonText(status, text);
  }
  send(status: number, body: string | Buffer, contentType: string): void {
    this.real().send(status, body, contentType);
  }
  writeHead(status: number, extra?: ReadonlyArray<readonly [string, string]>): string[] {
    return this.real().writeHead(status, extra);
  }
  /** Callable unbound (`setImmediate(reply.build)`). */
  readonly build = (): void => void this.real();
}

export function deferredReply(make: () => LegacyReply): DeferredReply {
  return new LazyReply(make);
}
