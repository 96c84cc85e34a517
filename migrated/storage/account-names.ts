import type { Redis } from 'ioredis';
import { ALL_ACCOUNT_KINDS } from './accounts.js';
import { keys, type AccountKind } from './keys.js';

/**
 * The key names of every account of a type, without walking the keyspace on every listing.
 *
 * The legacy lists a type's accounts with `SCAN MATCH <prefix>*` over the whole keyspace, and the shared-pool
 * scheduler lists three types on every request without a sticky session. Redis' CPU for that grows with the
 * keyspace (usage keys are most of it): with 200,000 other keys the migrated pool path fell from ~500 to 15-20
 * requests/s, whatever SCAN's COUNT.
 *
 * This index keeps each type's names from one SCAN and learns of later changes from Redis itself: one connection
 * of its own runs `CLIENT TRACKING ON REDIRECT <itself> BCAST PREFIX <every account prefix>` and subscribes to
 * `__redis__:invalidate`, so Redis sends it the name of every key under those prefixes that anybody (the legacy,
 * another gateway, an admin) writes or deletes, in the same event-loop iteration as the write.
 * - A name the index already has (an account updated: lastUsedAt on every request) changes nothing.
 * - A new name (an account created) makes the type's next listing SCAN again, so the list is in the order a
 *   fresh SCAN gives (the legacy's order, which decides ties between equal accounts). A deleted account keeps
 *   its name until then; its HGETALL comes back empty and the listing skips it, as SCAN would not have named it.
 * - A flush, a lost connection, or a list older than `maxAgeMs` (default 60 s): SCAN again.
 * - Before a listing is served from the index, the event loop finishes its current poll, so the invalidations of
 *   every write Redis had finished before answering this request's first read are applied: a client that creates
 *   an account and then sends a request sees it listed, as with the legacy's SCAN.
 * While the connection is not set up (starting, reconnecting: a new connection every `retryMs`), every listing
 * SCANs, as before; a server that refuses CLIENT TRACKING (Redis < 6, some proxies) is logged once and never
 * asked again. A SCAN's result is kept only if no new name arrived while it ran.
 */
export interface AccountNameSource {
  /** The key names of `kind`'s accounts: from the index when it is current, else from `scan()` (which it keeps). */
  names(kind: AccountKind, scan: () => Promise<string[]>): Promise<readonly string[]>;
  close(): void;
}

interface KindState {
  names: string[] | null;
  known: Set<string>;
  scannedAt: number;
  /** bumped by every invalidation that makes the list stale; a SCAN keeps its result only if unchanged */
  generation: number;
  /** the SCAN under way while tracking is on, with the generation it began in */
  scanning: { generation: number; names: Promise<string[]> } | null;
}

export interface AccountNameIndexOptions {
  /** A new connection for the index's own use (same server and credentials as the data connection). */
  connect: () => Redis;
  log: { warn(obj: object, msg: string): void; info?(obj: object, msg: string): void };
  now?: () => number;
  maxAgeMs?: number;
  /** Wait before connecting again after the connection was lost. */
  retryMs?: number;
}

export class AccountNameIndex implements AccountNameSource {
  private readonly kinds = new Map<AccountKind, KindState>();
  private readonly prefixes: Array<[string, AccountKind]>;
  private conn: Redis | null = null;
  /** true while tracking is on and subscribed: invalidations are arriving */
  private live = false;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly o: AccountNameIndexOptions) {
    this.now = o.now ?? Date.now;
    this.prefixes = ALL_ACCOUNT_KINDS.map((k) => [keys.accountPrefix(k), k]);
    for (const k of ALL_ACCOUNT_KINDS) this.kinds.set(k, { names: null, known: new Set(), scannedAt: 0, generation: 0, scanning: null });
    void this.open();
  }

  /** Whether listings are served from the index (tracking on and subscribed). */
  get tracking(): boolean {
    return this.live;
  }

  async names(kind: AccountKind, scan: () => Promise<string[]>): Promise<readonly string[]> {
    const st = this.kinds.get(kind)!;
    if (this.current(st)) {
      // Invalidations already on the index's socket are applied first: a write that Redis finished before it
      // answered any of this request's reads has sent its invalidation by then, but the socket holding it may
      // come after that answer in the same poll of the event loop.
      await new Promise<void>((r) => setImmediate(r));
      if (this.current(st)) return st.names!;
    }
    // a SCAN already running for this type, with no new name since it began, answers this listing too (ten
    // concurrent pool requests after a start or an account's creation: one SCAN, not ten)
    const running = st.scanning;
    if (this.live && running && running.generation === st.generation) return running.names;
    const wasLive = this.live;
    const generation = st.generation;
    const startedAt = this.now();
    const pending = scan();
    if (wasLive) st.scanning = { generation, names: pending };
    let found: string[];
    try {
      found = await pending;
    } finally {
      if (st.scanning?.names === pending) st.scanning = null;
    }
    // kept only if tracking was on for the whole SCAN and nothing new arrived meanwhile
    if (wasLive && this.live && st.generation === generation) {
      st.names = found;
      st.known = new Set(found);
      st.scannedAt = startedAt;
    }
    return found;
  }

  private current(st: KindState): boolean {
    return this.live && st.names !== null && this.now() - st.scannedAt < (this.o.maxAgeMs ?? 60_000);
  }

  close(): void {
    this.closed = true;
    this.live = false;
    if (this.retry) clearTimeout(this.retry);
    this.conn?.disconnect();
    this.conn = null;
  }

  private forgetAll(): void {
    for (const st of this.kinds.values()) {
      st.names = null;
      st.generation++;
    }
  }

  private onInvalidate(payload: unknown): void {
    // null (a flush) or an empty message: every list may be wrong
    if (!Array.isArray(payload) || payload.length === 0) return this.forgetAll();
    for (const item of payload) {
      const name = Buffer.isBuffer(item) ? item.toString('utf8') : String(item);
      for (const [prefix, kind] of this.prefixes) {
        if (!name.startsWith(prefix)) continue;
        const st = this.kinds.get(kind)!;
        if (!st.known.has(name)) {
          st.names = null;
          st.generation++;
        }
        break;
      }
    }
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    const conn = this.o.connect();
    this.conn = conn;
    const lost = () => {
      if (this.conn !== conn) return;
      this.live = false;
      this.forgetAll();
      this.conn = null;
      conn.disconnect();
      if (!this.closed) this.retry = setTimeout(() => void this.open(), this.o.retryMs ?? 1000).unref();
    };
    conn.on('error', () => undefined);
    conn.on('close', lost);
    conn.on('messageBuffer', (channel: Buffer, message: unknown) => {
      if (channel.toString() !== '__redis__:invalidate') return;
      // an array of key names; null or an empty string for a flush
      const empty = message === null || message === undefined || (Buffer.isBuffer(message) && message.length === 0);
      this.onInvalidate(empty ? null : Array.isArray(message) ? message : [message]);
    });
    try {
      const id = String(await conn.call('CLIENT', 'ID'));
      const args = ['TRACKING', 'ON', 'REDIRECT', id, 'BCAST'];
      for (const [prefix] of this.prefixes) args.push('PREFIX', prefix);
      await conn.call('CLIENT', ...args);
      await conn.subscribe('__redis__:invalidate');
      if (this.conn !== conn) return;
      // anything written before this point is found by the next SCAN of each type
      this.forgetAll();
      this.live = true;
    } catch (err) {
      if (this.conn !== conn) return;
      if ((err as Error).name === 'ReplyError') {
        // the server refuses CLIENT TRACKING (Redis < 6, a proxy): listings SCAN for the life of the process
        this.o.log.warn({ err: (err as Error).message }, 'account name index: Redis refuses client tracking, account listings SCAN every time');
        this.conn = null;
        conn.disconnect();
        return;
      }
      lost();
    }
  }
}
