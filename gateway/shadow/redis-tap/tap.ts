import { connect, createServer, type Server, type Socket } from 'node:net';
import { RespReader, commandArgs, describeCommand, encodeCommand, encodeValue, type RespValue } from '../resp/codec.js';
import type { CommandTable } from '../resp/command-table.js';
import type { PreImage } from '../sandbox/pre-image.js';

/**
 * The primary's Redis tap: a TCP proxy the primary's Redis client connects to instead of the
 * production Redis (legacy: REDIS_HOST/REDIS_PORT; migrated primary: deps.redis).
 *
 * Outside observation windows it forwards bytes unchanged (it still parses, to keep its reply
 * bookkeeping in step). While at least one window is open it records every write command with
 * its keys, and before the first write to a key within a window it injects `DUMP key` and
 * `PTTL key` into the same connection, just ahead of the write: Redis runs a connection's
 * commands in order, so those replies are the key's value right before the primary changed it
 * (the pre-image). The injected replies are removed from the stream back to the client; inside
 * MULTI their `+QUEUED` replies and their slots in the EXEC array are removed too (RESP2 is
 * re-encoded exactly; the legacy's ioredis 5 speaks RESP2).
 *
 * A window's pre-images are therefore the state of every key written during the window as it
 * was when the window opened — exactly what a candidate replaying the same request must start
 * from. Connections that SUBSCRIBE or MONITOR become plain pipes.
 */

export interface WriteRecord {
  /** Wall-clock ms when the command went to Redis. */
  at: number;
  command: string;
  keys: string[];
}

export interface WindowResult {
  openedAt: number;
  closedAt: number;
  preImages: Map<string, PreImage>;
  writes: WriteRecord[];
  /** Writes whose keys could not be determined without asking Redis (movable keys). */
  unresolved: string[];
  /** Commands of any kind that went through the tap while the window was open. */
  commandsSeen: number;
  /** Client connections to the tap when the window opened (0 and no command: the primary is not behind the tap). */
  clientsAtOpen: number;
}

interface WindowState {
  commandsSeen: number;
  openedAt: number;
  preImages: Map<string, PreImage>;
  pending: Map<string, Promise<void>>;
  writes: WriteRecord[];
  unresolved: string[];
}

export interface TapWindow {
  /** Waits for pre-images still in flight (bounded), then stops observing. */
  close(): Promise<WindowResult>;
}

interface Slot {
  key: string;
  windows: WindowState[];
  payload: Buffer | null;
  resolve: () => void;
}

type Expect =
  | { kind: 'client' }
  | { kind: 'passthrough' }
  | { kind: 'dump'; slot: Slot }
  | { kind: 'pttl'; slot: Slot }
  | { kind: 'queued' }
  | { kind: 'exec'; entries: ExecEntry[] };

type ExecEntry = { kind: 'client' } | { kind: 'dump'; slot: Slot } | { kind: 'pttl'; slot: Slot };

const PASSTHROUGH_COMMANDS = new Set(['subscribe', 'psubscribe', 'ssubscribe', 'monitor']);

export interface RedisTapOptions {
  productionHost: string;
  productionPort: number;
  table: CommandTable;
  host?: string;
  port?: number;
  now?: () => number;
  /** Longest wait for in-flight pre-images when a window closes (ms). */
  closeWaitMs?: number;
}

export class PrimaryRedisTap {
  port = 0;
  /** Commands injected so far (DUMP + PTTL), for the benchmark and the summary. */
  injected = 0;
  private server: Server | undefined;
  private readonly windows = new Set<WindowState>();
  private readonly sockets = new Set<Socket>();
  private clients = 0;
  private readonly now: () => number;

  constructor(private readonly opts: RedisTapOptions) {
    this.now = opts.now ?? (() => Date.now());
  }

  async start(): Promise<this> {
    this.server = createServer((client) => this.serve(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  openWindow(): TapWindow {
    const w: WindowState = { openedAt: this.now(), preImages: new Map(), pending: new Map(), writes: [], unresolved: [], commandsSeen: 0 };
    const clientsAtOpen = this.clients;
    this.windows.add(w);
    return {
      close: async () => {
        this.windows.delete(w);
        const wait = Promise.all(w.pending.values());
        await Promise.race([wait, new Promise((r) => setTimeout(r, this.opts.closeWaitMs ?? 2000))]);
        return { openedAt: w.openedAt, closedAt: this.now(), preImages: w.preImages, writes: w.writes, unresolved: w.unresolved, commandsSeen: w.commandsSeen, clientsAtOpen };
      },
    };
  }

  get openWindows(): number {
    return this.windows.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(client: Socket): void {
    const server = connect({ host: this.opts.productionHost, port: this.opts.productionPort });
    client.setNoDelay(true);
    server.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(server);
    this.clients++;
    client.once('close', () => this.clients--);
    const commands = new RespReader(true);
    const replies = new RespReader(false);
    const expect: Expect[] = [];
    let head = 0; // index of the next expectation (avoids O(n) shift)
    let cmdPassthrough = false;
    let replyPassthrough = false;
    let multi: ExecEntry[] | null = null;

    const closeBoth = () => {
      client.destroy();
      server.destroy();
      this.sockets.delete(client);
      this.sockets.delete(server);
    };
    client.on('error', closeBoth);
    server.on('error', closeBoth);
    client.on('close', closeBoth);
    server.on('close', closeBoth);

    client.on('data', (chunk: Buffer) => {
      if (cmdPassthrough) {
        server.write(chunk);
        return;
      }
      commands.push(chunk);
      const out: Buffer[] = [];
      for (;;) {
        let frame;
        try {
          frame = commands.next();
        } catch {
          // Not RESP: stop interpreting, let Redis answer whatever this is.
          cmdPassthrough = true;
          expect.push({ kind: 'passthrough' });
          out.push(commands.drain());
          break;
        }
        if (!frame) break;
        const args = commandArgs(frame.value);
        const name = args?.[0]?.toString('latin1').toLowerCase() ?? '';
        if (args && this.windows.size > 0) this.observe(args, multi, out, expect);
        out.push(frame.raw);
        if (PASSTHROUGH_COMMANDS.has(name)) {
          cmdPassthrough = true;
          expect.push({ kind: 'passthrough' });
          out.push(commands.drain());
          break;
        }
        if (name === 'multi' && !multi) {
          multi = [];
          expect.push({ kind: 'client' });
        } else if (name === 'exec' && multi) {
          expect.push({ kind: 'exec', entries: multi });
          multi = null;
        } else if (name === 'discard' && multi) {
          // Injected DUMPs queued in this transaction die with it: release their slots.
          for (const e of multi) if (e.kind === 'pttl') finishSlot(e.slot, null);
          multi = null;
          expect.push({ kind: 'client' });
        } else {
          if (multi) multi.push({ kind: 'client' });
          expect.push({ kind: 'client' });
        }
      }
      if (out.length) server.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    });

    server.on('data', (chunk: Buffer) => {
      if (replyPassthrough) {
        client.write(chunk);
        return;
      }
      replies.push(chunk);
      const out: Buffer[] = [];
      for (;;) {
        let frame;
        try {
          frame = replies.next();
        } catch {
          replyPassthrough = true;
          out.push(replies.drain());
          break;
        }
        if (!frame) break;
        const e = expect[head];
        if (e) head++;
        if (head > 1024 && head * 2 > expect.length) {
          expect.splice(0, head);
          head = 0;
        }
        if (!e || e.kind === 'client') out.push(frame.raw);
        else if (e.kind === 'passthrough') {
          out.push(frame.raw, replies.drain());
          replyPassthrough = true;
          break;
        } else if (e.kind === 'queued') continue;
        else if (e.kind === 'dump') e.slot.payload = bulkOf(frame.value);
        else if (e.kind === 'pttl') finishSlot(e.slot, intOf(frame.value));
        else out.push(rewriteExec(frame.value, frame.raw, e.entries));
      }
      if (out.length) client.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    });
  }

  /** Record a write in every open window and inject pre-image reads ahead of it. */
  private observe(args: Buffer[], multi: ExecEntry[] | null, out: Buffer[], expect: Expect[]): void {
    for (const w of this.windows) w.commandsSeen++;
    const lookup = this.opts.table.keysOfSync(args);
    const spec = this.opts.table.spec(args);
    if (!lookup) {
      if (spec?.write) for (const w of this.windows) w.unresolved.push(describeCommand(args));
      return;
    }
    if (!lookup.write) return;
    const keys = lookup.keys.map((k) => k.toString('latin1'));
    const record: WriteRecord = { at: this.now(), command: describeCommand(args), keys: keys.map((k) => Buffer.from(k, 'latin1').toString('utf8')) };
    for (const w of this.windows) w.writes.push(record);
    for (const key of keys) {
      const lacking = [...this.windows].filter((w) => !w.preImages.has(key) && !w.pending.has(key));
      if (lacking.length === 0) continue;
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      const slot: Slot = { key, windows: lacking, payload: null, resolve };
      for (const w of lacking) w.pending.set(key, done);
      const keyBuf = Buffer.from(key, 'latin1');
      out.push(encodeCommand(['DUMP', keyBuf]), encodeCommand(['PTTL', keyBuf]));
      this.injected += 2;
      if (multi) {
        expect.push({ kind: 'queued' }, { kind: 'queued' });
        multi.push({ kind: 'dump', slot }, { kind: 'pttl', slot });
      } else expect.push({ kind: 'dump', slot }, { kind: 'pttl', slot });
    }
  }
}

function bulkOf(v: RespValue): Buffer | null {
  return v.kind === 'bulk' && v.value ? Buffer.from(v.value) : null;
}

function intOf(v: RespValue): number | null {
  return v.kind === 'int' ? v.value : null;
}

/** pttl null: the read failed (e.g. transaction aborted): no pre-image, the key stays unknown. */
function finishSlot(slot: Slot, pttl: number | null): void {
  for (const w of slot.windows) {
    w.pending.delete(slot.key);
    if (pttl !== null) w.preImages.set(slot.key, { payload: slot.payload, pttl });
  }
  slot.resolve();
}

function rewriteExec(value: RespValue, raw: Buffer, entries: ExecEntry[]): Buffer {
  const injected = entries.some((e) => e.kind !== 'client');
  if (!injected) return raw;
  if (value.kind !== 'array' || !value.items) {
    // EXECABORT or WATCH failure: the injected reads did not run.
    for (const e of entries) if (e.kind === 'pttl') finishSlot(e.slot, null);
    return raw;
  }
  const kept: RespValue[] = [];
  value.items.forEach((item, i) => {
    const e = entries[i];
    if (!e || e.kind === 'client') kept.push(item);
    else if (e.kind === 'dump') e.slot.payload = bulkOf(item);
    else finishSlot(e.slot, intOf(item));
  });
  return encodeValue({ kind: 'array', items: kept });
}
