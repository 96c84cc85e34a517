/**
 * `npm run routes -- <command> [args] [--file path]`: operate the routing table without editing JSON by hand.
 * Commands come from the command map; each module below registers its own.
 */
import { pathToFileURL } from 'node:url';
import { routesCommands, type CliContext } from './command-map.js';
import './table-commands.js';
// Further subcommand modules (one import line each), e.g. gateway/fleet/ registers `nginx` and `publish`.
import '../fleet/cli.js';

export async function runRoutesCli(argv: string[], ctx: Omit<CliContext, 'tablePath'> & { tablePath?: string }): Promise<number> {
  const fileAt = argv.findIndex((a) => a === '--file' || a.startsWith('--file='));
  let file: string | undefined;
  const args = [...argv];
  if (fileAt !== -1) {
    const a = args[fileAt]!;
    if (a.includes('=')) {
      file = a.slice(a.indexOf('=') + 1);
      args.splice(fileAt, 1);
    } else {
      file = args[fileAt + 1];
      args.splice(fileAt, 2);
    }
  }
  const tablePath = file ?? ctx.tablePath ?? ctx.env.ROUTING_TABLE ?? './routing-table.json';
  const [name, ...rest] = args;
  const commands = routesCommands();
  const command = name ? commands.get(name) : undefined;
  if (!command) {
    ctx.err(name ? `unknown command "${name}"` : 'usage: npm run routes -- <command> [args] [--file routing-table.json]');
    for (const [n, c] of commands) ctx.err(`  ${c.usage.startsWith(n) ? c.usage : `${n} ${c.usage}`}\n      ${c.summary}`);
    return 2;
  }
  return command.run(rest, { ...ctx, tablePath });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const code = await runRoutesCli(process.argv.slice(2), {
    env: process.env,
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  }).catch((err: Error) => {
    console.error(err.message);
    return 1;
  });
  process.exitCode = code;
}
