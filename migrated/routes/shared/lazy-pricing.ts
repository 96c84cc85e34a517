import type { MigratedDeps } from '../../runtime/deps.js';
import { PricingTable } from '../../pricing/pricing-table.js';

/**
 * The price table from config PRICING_FILE, loaded on first use (and re-read when the file
 * changes, checked at most once a minute). A missing file logs once and leaves an empty
 * table, so callers fall back to the legacy's static prices.
 */
export interface LazyPricing {
  (): PricingTable;
  /** Stop the file watch (module close). */
  stop(): void;
}

export function lazyPricing(deps: Pick<MigratedDeps, 'config' | 'log'>): LazyPricing {
  let table: PricingTable | null = null;
  let unwatch: (() => void) | null = null;
  const get = (() => {
    if (!table) {
      table = new PricingTable(deps.config.PRICING_FILE, deps.log);
      try {
        table.loadSync();
        unwatch = table.watch(60_000);
      } catch (err) {
        deps.log.warn({ err: (err as Error).message, file: deps.config.PRICING_FILE }, 'pricing file not loaded; static prices apply');
      }
    }
    return table;
  }) as LazyPricing;
  get.stop = () => unwatch?.();
  return get;
}
