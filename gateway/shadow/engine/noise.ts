import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNoise, readNoiseFile, type CompiledNoise } from '../../../compat-tests/engine/noise/rules.js';

/**
 * The shadow uses the offline suites' noise files (same format, same rules): the shared
 * default (compat-tests/noise.default.json) plus any extra files (e.g. a suite's noise.json).
 * Rules scoped to named exchanges do not apply to live traffic.
 */
const projectRoot = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

export const DEFAULT_NOISE_FILE = join(projectRoot, 'compat-tests', 'noise.default.json');
export const DEFAULT_DEVIATIONS_FILE = join(projectRoot, 'compat-tests', 'accepted-deviations.json');

export function loadShadowNoise(files: string[] = [DEFAULT_NOISE_FILE]): CompiledNoise {
  return compileNoise(files.map(readNoiseFile), '(shadow)');
}

/** Noise per routing-table route: rules scoped to other routes (`routes: [...]`) do not apply. */
export type ShadowNoiseByRoute = (routeId: string) => CompiledNoise;

export function loadShadowNoiseByRoute(files: string[] = [DEFAULT_NOISE_FILE]): ShadowNoiseByRoute {
  const parsed = files.map(readNoiseFile);
  const cache = new Map<string, CompiledNoise>();
  return (routeId) => {
    let compiled = cache.get(routeId);
    if (!compiled) {
      compiled = compileNoise(parsed, '(shadow)', routeId);
      cache.set(routeId, compiled);
    }
    return compiled;
  };
}
