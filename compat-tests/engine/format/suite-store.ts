import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { parseExchange, type Exchange } from './exchange.js';

/**
 * A suite on disk: `<dir>/suite.json` (name, description, ordered exchange names) and one
 * `<dir>/exchanges/<name>.json` per exchange. Order matters for reading (state carried over
 * when recorded) but every exchange carries its own pre-state, so each replays alone.
 */
export const SuiteManifestSchema = v.strictObject({
  suite: v.string(),
  description: v.string(),
  exchanges: v.array(v.string()),
});
export type SuiteManifest = v.InferOutput<typeof SuiteManifestSchema>;

export interface LoadedSuite {
  dir: string;
  manifest: SuiteManifest;
  exchanges: Exchange[];
}

export function suiteExists(dir: string): boolean {
  return existsSync(join(dir, 'suite.json'));
}

export function readManifest(dir: string): SuiteManifest {
  const r = v.safeParse(SuiteManifestSchema, JSON.parse(readFileSync(join(dir, 'suite.json'), 'utf8')));
  if (!r.success) throw new Error(`${dir}/suite.json: ${r.issues[0]!.message}`);
  return r.output;
}

export function readExchange(dir: string, name: string): Exchange {
  const file = join(dir, 'exchanges', `${name}.json`);
  return parseExchange(JSON.parse(readFileSync(file, 'utf8')), file);
}

export function readSuite(dir: string): LoadedSuite {
  const manifest = readManifest(dir);
  return { dir, manifest, exchanges: manifest.exchanges.map((n) => readExchange(dir, n)) };
}

/** Write (replace) a whole suite's exchanges; keeps other files in the folder (noise.json...). */
export function writeSuite(dir: string, manifest: SuiteManifest, exchanges: Exchange[]): void {
  const exDir = join(dir, 'exchanges');
  rmSync(exDir, { recursive: true, force: true });
  mkdirSync(exDir, { recursive: true });
  for (const ex of exchanges) writeExchange(dir, ex);
  writeFileSync(join(dir, 'suite.json'), JSON.stringify(manifest, null, 2) + '\n');
}

export function writeExchange(dir: string, ex: Exchange): void {
  mkdirSync(join(dir, 'exchanges'), { recursive: true });
  writeFileSync(join(dir, 'exchanges', `${ex.name}.json`), JSON.stringify(ex, null, 1) + '\n');
}

/** Append one exchange to a suite (recorder): creates the suite when missing. */
export function appendExchange(dir: string, suite: string, description: string, ex: Exchange): void {
  const manifest: SuiteManifest = suiteExists(dir) ? readManifest(dir) : { suite, description, exchanges: [] };
  if (!manifest.exchanges.includes(ex.name)) manifest.exchanges.push(ex.name);
  writeExchange(dir, ex);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'suite.json'), JSON.stringify(manifest, null, 2) + '\n');
}

export function listSuites(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && suiteExists(join(root, d.name)))
    .map((d) => d.name)
    .sort();
}
