import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSuiteDir, saveShadowDifference } from './save/save.js';

/**
 * Shadow mode command line (`tsx gateway/shadow/cli.ts <command>`):
 *   save <id> --suite <name> [--admin http://127.0.0.1:8081] [--name <exchange name>] [--dir <suite folder>]
 *        write a captured difference into compat-tests/suites/<name>/ as a regression exchange
 *   status [--admin URL]      print the per-route summary and recent differences
 */

const projectRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function adminUrl(args: string[]): string {
  return flag(args, 'admin') ?? `http://127.0.0.1:${process.env.GATEWAY_ADMIN_PORT ?? '8081'}`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === 'save') {
    const id = args[0];
    const suite = flag(args, 'suite');
    if (!id || id.startsWith('--') || !suite) {
      console.error('usage: shadow save <id> --suite <name> [--admin URL] [--name N] [--dir folder]');
      return 2;
    }
    const name = flag(args, 'name');
    const saved = await saveShadowDifference({
      admin: adminUrl(args),
      id,
      suite,
      suiteDir: flag(args, 'dir') ?? defaultSuiteDir(projectRoot, suite),
      ...(name ? { name } : {}),
    });
    console.log(`saved ${saved.name} into ${saved.dir}`);
    return 0;
  }
  if (command === 'status') {
    const res = await fetch(new URL('/gateway/shadow', adminUrl(args)));
    const data = (await res.json()) as {
      routes: Array<{ routeId: string; compared: number; identical: number; differing: number; errors: number; dropped: number }>;
      differences: Array<{ id: string; routeId: string; firstDivergence: string | null }>;
    };
    for (const r of data.routes) {
      console.log(`${r.routeId}: compared ${r.compared}, identical ${r.identical}, differing ${r.differing}, errors ${r.errors}, dropped ${r.dropped}`);
    }
    for (const d of data.differences) console.log(`  ${d.id} ${d.routeId}: ${d.firstDivergence ?? ''}`);
    return 0;
  }
  console.error('usage: shadow save <id> --suite <name> [--admin URL] | shadow status [--admin URL]');
  return 2;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
