/**
 * The `npm run routes -- <command>` command map. Each subcommand is one entry; other folders add theirs
 * with `registerRoutesCommand(name, command)` in a module imported by gateway/cli/routes.ts
 * (one import line per module, e.g. gateway/fleet/ adds `nginx` and `publish`).
 */

export interface CliContext {
  /** Routing table path: --file, else ROUTING_TABLE, else ./routing-table.json. */
  tablePath: string;
  env: NodeJS.ProcessEnv;
  out(line: string): void;
  err(line: string): void;
  /** Migrated module names the table may use (default: migrated/registry.ts). */
  knownModules?: () => string[];
}

export interface RoutesCommand {
  usage: string;
  summary: string;
  /** Returns the process exit code. `args` excludes the command name and the --file option. */
  run(args: string[], ctx: CliContext): Promise<number>;
}

const commands = new Map<string, RoutesCommand>();

export function registerRoutesCommand(name: string, command: RoutesCommand): void {
  commands.set(name, command);
}

export function routesCommands(): ReadonlyMap<string, RoutesCommand> {
  return commands;
}

/** `--name value` / `--name=value` options and positional arguments. */
export function parseArgs(args: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq !== -1) options[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) options[a.slice(2)] = args[++i]!;
      else options[a.slice(2)] = 'true';
    } else positional.push(a);
  }
  return { positional, options };
}
