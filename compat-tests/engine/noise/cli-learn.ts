import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { legacyTracesSecondaryDir, projectRoot } from '../../../test-support/paths.js';
import { readSuite, suiteExists } from '../format/suite-store.js';
import { importTraces } from '../import/shared-traces.js';
import { learnNoise } from './learn.js';
import { readNoiseFile } from './rules.js';

export const defaultNoiseFile = join(projectRoot, 'compat-tests', 'noise.default.json');

/**
 * `learn-noise --suite <name> [--secondary <suite dir | trace dir>] [--write]`: propose noise from a
 * second legacy recording. Prints the proposal; --write replaces the suite's learned rules
 * in noise.json (hand-written rules stay).
 */
export async function cmdLearnNoise(argv: string[], suitesRoot: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { suite: { type: 'string', default: 'legacy-shared' }, secondary: { type: 'string' }, write: { type: 'boolean', default: false } },
  });
  const dir = join(suitesRoot, values.suite);
  const primary = readSuite(dir).exchanges;
  const secDir = values.secondary ?? (existsSync(join(dir, 'secondary')) ? join(dir, 'secondary') : values.suite === 'legacy-shared' ? legacyTracesSecondaryDir : '');
  if (!secDir || !existsSync(secDir)) {
    console.error(`no secondary recording for ${values.suite} (record one with --secondary, or pass --secondary <dir>)`);
    return 2;
  }
  const secondary = suiteExists(secDir) ? readSuite(secDir).exchanges : importTraces(secDir);
  const noiseFile = join(dir, 'noise.json');
  const current = readNoiseFile(noiseFile);
  const manual = current.rules.filter((r) => r.source !== 'learned');
  const result = learnNoise(primary, secondary, [readNoiseFile(defaultNoiseFile), { variables: current.variables, rules: manual }]);
  for (const r of result.rules) console.log(`${r.match}   [${r.exchanges?.join(' ')}]`);
  console.log(`${result.compared} exchanges compared, ${result.rules.length} noisy locations${result.unmatched.length ? `, no secondary for: ${result.unmatched.join(' ')}` : ''}`);
  if (values.write) {
    const out = {
      $comment:
        current.$comment ??
        `Noise of suite ${values.suite}. "learned" rules come from npm run compat -- learn-noise (primary vs secondary legacy recordings); others are written by hand with a reason.`,
      variables: current.variables,
      rules: [...manual, ...result.rules],
    };
    writeFileSync(noiseFile, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${noiseFile}`);
  }
  return 0;
}
