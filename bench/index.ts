/**
 * `npm run bench`: runs every section in bench/sections/ (or only those named on the command
 * line, e.g. `npm run bench -- gateway`), each printing ratios measured in this one run.
 * A section exports `title` and `run(): Promise<void>`; it prints its own table.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface Section {
  title: string;
  run(): Promise<void>;
}

const dir = join(dirname(fileURLToPath(import.meta.url)), 'sections');
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .sort()
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)));

for (const file of files) {
  const section = (await import(pathToFileURL(join(dir, file)).href)) as Section;
  console.log(`\n=== ${section.title} (${file}) ===`);
  const started = performance.now();
  try {
    await section.run();
  } catch (err) {
    console.log(`section failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  }
  console.log(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
