import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Project root (the folder holding package.json). */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The workplace's shared folder (`../shared` beside the project), or SHARED_DIR. */
export const sharedDir = resolve(process.env.SHARED_DIR ?? join(projectRoot, '..', 'shared'));

export const legacyTracesDir = join(sharedDir, 'legacy-traces');
export const legacyTracesSecondaryDir = join(sharedDir, 'legacy-traces-secondary');
export const pricingFile = resolve(
  process.env.PRICING_FILE ?? join(sharedDir, 'legacy-data', 'model_prices_and_context_window.json'),
);
export const hasSharedTraces = existsSync(legacyTracesDir);
