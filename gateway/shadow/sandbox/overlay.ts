import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Redis } from 'ioredis';
import { RespReader, commandArgs, describeCommand, encodeCommand, encodeValue, RespProtocolError } from '../resp/codec.js';
import { CommandTable } from '../resp/command-table.js';
import type { PreImage } from './pre-image.js';

/**
 * The candidate's Redis: a read-through, copy-on-first-touch overlay.
 *
 * The candidate's Redis client connects to this TCP endpoint (`port`). Each command is parsed
 * (RESP), its keys found (CommandTable), and every key not yet materialised in the current
 * run is copied into the sandbox Redis first — from the primary's pre-image of that key when
 * the primary tap captured one, else from production (`DUMP` + `PTTL` → `RESTORE`), or noted
 * "known absent". Then the command itself goes to the sandbox. Production only ever receives
 * `DUMP`, `PTTL` and `SCAN` from us: nothing the candidate sends reaches it.
 *
 * Runs are serial: `beginRun()` empties the sandbox database and the materialised set, so a
 * run sees production as it was when each key was first touched by that run (or the primary's
 * pre-image), and everything it wrote is in the sandbox when `finish()` is called.
 */

export interface OverlayOptions {
  /** Read-only use: DUMP, PTTL, SCAN. */
  production: Redis;
  /** Control connection to the sandbox Redis (FLUSHDB, RESTORE, reads after a run). */
  sandbox: Redis;
  sandboxHost: string;
  sandboxPort: number;
  /** Database index used on the sandbox (the candidate's SELECT is mapped onto it). */
  sandboxDb?: number;
  /** Upper bound of production keys copied for one KEYS/SCAN pattern. */
  maxPatternKeys?: number;
  /**
   * Keys the candidate sees as absent whatever production holds (never copied): the settings of side
   * effects outside Redis that only the primary may perform (default: CANDIDATE_MASKED_KEYS).
   */
  masked?: ReadonlySet<string>;
  host?: string;
  port?: number;
}

export type KeySource = 'production' | 'pre-image' | 'absent' | 'flushed' | 'masked';

/**
 * `webhook_config:default`: the account-anomaly webhooks (and their SMTP settings). A legacy candidate (reverse
 * shadow: the migrated side primary) would otherwise read production's config and notify a second time for what
 * the primary already notified; masked, it finds the legacy's default (disabled). A migrated candidate is silent
 * anyway (MigratedDeps.webhooks: false).
 */
export const CANDIDATE_MASKED_KEYS: ReadonlySet<string> = new Set(['webhook_config:default']);

export interface CommandRecord {
  /** Milliseconds since the run began. */
  atMs: number;
  command: string;
  keys: string[];
  write: boolean;
}

export interface SandboxRunResult {
  /** Keys the candidate touched, and where their starting value came from. */
  materialized: Map<string, KeySource>;
  /** The starting value of every touched key (payload null: absent). */
  start: Map<string, PreImage>;
  /** Keys named by a write command (or a script) — the candidate's side effects. */
  written: Set<string>;
  commands: CommandRecord[];
  /** Patterns (KEYS/SCAN MATCH) whose production keys were copied. */
  patterns: string[];
  /** Something the overlay could not reproduce faithfully (e.g. pattern cap reached). */
  warnings: string[];
}

interface RunState {
  startedAt: number;
  preImages: Map<string, PreImage>;
  materialized: Map<string, KeySource>;
  start: Map<string, PreImage>;
  inflight: Map<string, Promise<void>>;
  written: Set<string>;
  commands: CommandRecord[];
  patterns: Set<string>;
  warnings: string[];
  flushed: boolean;
}

export interface SandboxRun {
  finish(): SandboxRunResult;
}

function newRun(preImages: Map<string, PreImage>): RunState {
  return {
    startedAt: performance.now(),
    preImages,
    materialized: new Map(),
    start: new Map(),
    inflight: new Map(),
    written: new Set(),
    commands: [],
    patterns: new Set(),
    warnings: [],
    flushed: false,
  };
}

const KEYSPACE_FLUSH = new Set(['flushdb', 'flushall']);

export class SandboxOverlay {
  private server: Server | undefined;
  private table: CommandTable | undefined;
  private run: RunState = newRun(new Map());
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly opts: OverlayOptions) {}

  async start(): Promise<this> {
    this.table = await CommandTable.load(this.opts.sandbox);
    await this.opts.sandbox.select(this.opts.sandboxDb ?? 0);
    this.server = createServer((client) => this.serve(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  /** Empty the sandbox and start a run. `preImages`: the primary's values before its writes. */
  async beginRun(preImages: Map<string, PreImage> = new Map()): Promise<SandboxRun> {
    await this.opts.sandbox.flushdb();
    const state = newRun(preImages);
    this.run = state;
    return {
      finish: () => ({
        materialized: new Map(state.materialized),
        start: new Map(state.start),
        written: new Set(state.written),
        commands: [...state.commands],
        patterns: [...state.patterns],
        warnings: [...state.warnings],
      }),
    };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private serve(client: Socket): void {
    this.sockets.add(client);
    client.setNoDelay(true);
    const upstream = connect({ host: this.opts.sandboxHost, port: this.opts.sandboxPort });
    upstream.setNoDelay(true);
    this.sockets.add(upstream);
    const reader = new RespReader(true);
    let chain: Promise<void> = Promise.resolve();
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // A fresh connection starts on database 0; a client that never sends SELECT (ioredis with db 0)
    // must still land on the sandbox database, so select it first and swallow that one reply.
    const db = this.opts.sandboxDb ?? 0;
    let pendingSelectReply = db !== 0 ? Buffer.alloc(0) : null;
    if (db !== 0) upstream.write(encodeCommand(['SELECT', String(db)]));
    upstream.on('data', (d: Buffer) => {
      if (pendingSelectReply) {
        pendingSelectReply = Buffer.concat([pendingSelectReply, d]);
        const end = pendingSelectReply.indexOf('\r\n');
        if (end < 0) return;
        const reply = pendingSelectReply.subarray(0, end).toString('latin1');
        const rest = pendingSelectReply.subarray(end + 2);
        pendingSelectReply = null;
        if (reply !== '+OK') {
          this.run.warnings.push(`sandbox SELECT ${db} failed: ${reply}`);
          closeBoth();
          return;
        }
        if (rest.length > 0) client.write(rest);
        return;
      }
      client.write(d);
    });
    upstream.on('error', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', closeBoth);
    client.on('close', closeBoth);
    client.on('data', (chunk) => {
      reader.push(chunk);
      for (;;) {
        let frame;
        try {
          frame = reader.next();
        } catch (err) {
          client.end(encodeValue({ kind: 'error', text: `ERR shadow sandbox: ${(err as RespProtocolError).message}` }));
          return;
        }
        if (!frame) break;
        const args = commandArgs(frame.value);
        const raw = Buffer.from(frame.raw);
        chain = chain
          .then(async () => {
            const bytes = args ? await this.prepare(args, raw) : raw;
            if (!upstream.destroyed) upstream.write(bytes);
          })
          .catch((err: unknown) => {
            // Materialisation failed: the command must not run on a half-copied sandbox.
            this.run.warnings.push(`materialisation failed: ${(err as Error).message}`);
            closeBoth();
          });
      }
    });
  }

  /** Materialise the command's keys, record it, and return the bytes to send to the sandbox. */
  private async prepare(args: Buffer[], raw: Buffer): Promise<Buffer> {
    const run = this.run;
    const name = args[0]!.toString('latin1').toLowerCase();
    const db = String(this.opts.sandboxDb ?? 0);
    // Connection set-up: credentials are production's business, the sandbox has none;
    // every SELECT lands on the sandbox database.
    if (name === 'auth' || name === 'select') return encodeCommand(['SELECT', db]);
    if (name === 'hello') {
      const kept: Buffer[] = [args[0]!];
      for (let i = 1; i < args.length; i++) {
        const word = args[i]!.toString('latin1').toLowerCase();
        if (word === 'auth') i += 2;
        else if (word === 'setname') {
          kept.push(args[i]!, args[i + 1] ?? Buffer.alloc(0));
          i += 1;
        } else kept.push(args[i]!);
      }
      return encodeCommand(kept);
    }
    if (KEYSPACE_FLUSH.has(name)) {
      run.flushed = true;
      return encodeCommand(['FLUSHDB']);
    }
    const pattern = patternOf(name, args);
    if (pattern !== undefined) await this.materializePattern(run, pattern);
    const lookup = await this.table!.keysOf(args);
    const keyNames = lookup.keys.map((k) => k.toString('latin1'));
    for (const key of keyNames) await this.materialize(run, key);
    if (lookup.write) for (const key of keyNames) run.written.add(key);
    run.commands.push({
      atMs: Math.round((performance.now() - run.startedAt) * 1000) / 1000,
      command: describeCommand(args),
      keys: keyNames.map((k) => Buffer.from(k, 'latin1').toString('utf8')),
      write: lookup.write,
    });
    return raw;
  }

  private materialize(run: RunState, key: string): Promise<void> {
    if (run.materialized.has(key)) return Promise.resolve();
    const pending = run.inflight.get(key);
    if (pending) return pending;
    const job = this.copyKey(run, key).finally(() => run.inflight.delete(key));
    run.inflight.set(key, job);
    return job;
  }

  private async copyKey(run: RunState, key: string): Promise<void> {
    const keyBuf = Buffer.from(key, 'latin1');
    if (run.flushed) {
      run.materialized.set(key, 'flushed');
      run.start.set(key, { payload: null, pttl: -2 });
      return;
    }
    if ((this.opts.masked ?? CANDIDATE_MASKED_KEYS).has(Buffer.from(key, 'latin1').toString('utf8'))) {
      run.materialized.set(key, 'masked');
      run.start.set(key, { payload: null, pttl: -2 });
      return;
    }
    const pre = run.preImages.get(key);
    let payload: Buffer | null;
    let pttl: number;
    let source: KeySource;
    if (pre) {
      payload = pre.payload;
      pttl = pre.pttl;
      source = pre.payload ? 'pre-image' : 'absent';
    } else {
      const replies = await this.opts.production.pipeline().dumpBuffer(keyBuf).pttl(keyBuf).exec();
      const [dumpErr, dumped] = replies?.[0] ?? [new Error('no reply'), null];
      const [ttlErr, ttl] = replies?.[1] ?? [new Error('no reply'), -2];
      if (dumpErr) throw dumpErr;
      if (ttlErr) throw ttlErr;
      payload = (dumped as Buffer | null) ?? null;
      pttl = Number(ttl);
      source = payload ? 'production' : 'absent';
    }
    if (run !== this.run) return; // a newer run started meanwhile: do not pollute it
    run.start.set(key, payload && pttl !== -2 ? { payload, pttl } : { payload: null, pttl: -2 });
    if (payload && pttl !== -2) {
      await this.opts.sandbox.callBuffer('RESTORE', keyBuf, String(pttl > 0 ? pttl : 0), payload, 'REPLACE');
      run.materialized.set(key, source);
    } else {
      run.materialized.set(key, 'absent');
    }
  }

  private async materializePattern(run: RunState, pattern: string): Promise<void> {
    if (run.patterns.has(pattern) || run.flushed) return;
    run.patterns.add(pattern);
    const cap = this.opts.maxPatternKeys ?? 10_000;
    let cursor = '0';
    let copied = 0;
    do {
      const [next, keys] = await this.opts.production.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = String(next);
      for (const k of keys) {
        if (copied >= cap) {
          run.warnings.push(`pattern ${pattern}: more than ${cap} production keys, the rest not copied`);
          return;
        }
        await this.materialize(run, k.toString('latin1'));
        copied++;
      }
    } while (cursor !== '0');
  }
}

/** Keyspace-wide reads that must see production's keys: KEYS p, SCAN c MATCH p. */
function patternOf(name: string, args: Buffer[]): string | undefined {
  if (name === 'keys') return args[1]?.toString('latin1') ?? '*';
  if (name === 'scan') {
    for (let i = 2; i < args.length - 1; i++) {
      if (args[i]!.toString('latin1').toLowerCase() === 'match') return args[i + 1]!.toString('latin1');
    }
    return '*';
  }
  if (name === 'randomkey' || name === 'dbsize') return '*';
  return undefined;
}
