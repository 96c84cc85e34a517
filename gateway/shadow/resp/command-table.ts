import type { Redis } from 'ioredis';

/**
 * Which arguments of a command are keys, and whether it writes — learned from Redis itself
 * (`COMMAND`), so the table matches the server version in use. Commands whose keys move
 * (`movablekeys`) are resolved with `COMMAND GETKEYS` per call, except the script family
 * (EVAL/EVALSHA/FCALL and their _RO forms) whose keys are read from `numkeys` directly.
 */
export interface CommandSpec {
  name: string;
  write: boolean;
  /** Scripts and functions: may write, keys given by numkeys. */
  script: boolean;
  firstKey: number;
  lastKey: number;
  step: number;
  movable: boolean;
  subcommands: Map<string, CommandSpec>;
}

export interface KeyLookup {
  /** Normalised command name (lower case, `container|sub` for subcommands). */
  name: string;
  keys: Buffer[];
  /** True when the command may modify one of `keys` (scripts count as writes). */
  write: boolean;
}

const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);

function asString(x: unknown): string {
  return Buffer.isBuffer(x) ? x.toString('utf8') : String(x);
}

function parseSpec(entry: unknown[], parentName?: string): CommandSpec {
  const fullName = asString(entry[0]).toLowerCase();
  const flags = Array.isArray(entry[2]) ? (entry[2] as unknown[]).map(asString) : [];
  const subs = new Map<string, CommandSpec>();
  const subEntries = entry[9];
  if (Array.isArray(subEntries)) {
    for (const sub of subEntries) {
      if (!Array.isArray(sub)) continue;
      const spec = parseSpec(sub, fullName);
      const subName = spec.name.split('|')[1] ?? spec.name;
      subs.set(subName, spec);
    }
  }
  const name = parentName && !fullName.includes('|') ? `${parentName}|${fullName}` : fullName;
  return {
    name,
    write: flags.includes('write'),
    script: SCRIPT_COMMANDS.has(name),
    firstKey: Number(entry[3]),
    lastKey: Number(entry[4]),
    step: Number(entry[5]),
    movable: flags.includes('movablekeys'),
    subcommands: subs,
  };
}

export class CommandTable {
  private constructor(
    private readonly specs: Map<string, CommandSpec>,
    private readonly oracle: Redis,
  ) {}

  /** Load the table from `oracle` (any Redis of the same version; the sandbox is a good choice). */
  static async load(oracle: Redis): Promise<CommandTable> {
    const reply = (await oracle.call('COMMAND')) as unknown[];
    const specs = new Map<string, CommandSpec>();
    for (const entry of reply) {
      if (!Array.isArray(entry)) continue;
      const spec = parseSpec(entry);
      specs.set(spec.name, spec);
    }
    return new CommandTable(specs, oracle);
  }

  spec(args: readonly Buffer[]): CommandSpec | undefined {
    const name = args[0]?.toString('latin1').toLowerCase();
    if (!name) return undefined;
    const top = this.specs.get(name);
    if (!top) return undefined;
    if (top.subcommands.size > 0 && args[1]) {
      const sub = top.subcommands.get(args[1].toString('latin1').toLowerCase());
      if (sub) return sub;
    }
    return top;
  }

  /**
   * The keys of one command without asking Redis; undefined for movable-key commands other
   * than scripts (their keys need `COMMAND GETKEYS`).
   */
  keysOfSync(args: readonly Buffer[]): KeyLookup | undefined {
    const spec = this.spec(args);
    const name = spec?.name ?? args[0]?.toString('latin1').toLowerCase() ?? '';
    if (!spec) return { name, keys: [], write: false };
    if (spec.script) return scriptKeys(name, args);
    if (spec.movable) return undefined;
    return { name, keys: fixedKeys(spec, args), write: spec.write };
  }

  /**
   * The keys of one command. Synchronous for the common shapes; movable-key commands other
   * than scripts ask Redis (`COMMAND GETKEYS`). Unknown commands have no keys.
   */
  async keysOf(args: readonly Buffer[]): Promise<KeyLookup> {
    const spec = this.spec(args);
    const name = spec?.name ?? args[0]?.toString('latin1').toLowerCase() ?? '';
    if (!spec) return { name, keys: [], write: false };
    if (spec.script) return scriptKeys(name, args);
    if (spec.movable) {
      try {
        const reply = (await this.oracle.callBuffer('COMMAND', 'GETKEYS', ...args)) as unknown[];
        return { name, keys: reply.filter(Buffer.isBuffer) as Buffer[], write: spec.write };
      } catch {
        // "Invalid arguments" or no keys: Redis will answer the client with the real error.
        return { name, keys: [], write: spec.write };
      }
    }
    return { name, keys: fixedKeys(spec, args), write: spec.write };
  }
}

function fixedKeys(spec: CommandSpec, args: readonly Buffer[]): Buffer[] {
  if (spec.firstKey <= 0) return [];
  // Subcommand specs count positions from the container name, like the top level.
  const last = spec.lastKey < 0 ? args.length + spec.lastKey : spec.lastKey;
  const step = spec.step > 0 ? spec.step : 1;
  const keys: Buffer[] = [];
  for (let i = spec.firstKey; i <= last && i < args.length; i += step) keys.push(args[i]!);
  return keys;
}

function scriptKeys(name: string, args: readonly Buffer[]): KeyLookup {
  const numkeys = Number(args[2]?.toString('latin1'));
  const keys = Number.isInteger(numkeys) && numkeys > 0 ? args.slice(3, 3 + numkeys) : [];
  return { name, keys: [...keys], write: !name.endsWith('_ro') };
}
