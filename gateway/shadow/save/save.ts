import { join } from 'node:path';
import { parseExchange } from '../../../compat-tests/engine/format/exchange.js';
import { appendExchange } from '../../../compat-tests/engine/format/suite-store.js';

/**
 * Fetch a captured difference from a running gateway's admin port as a compat exchange and
 * append it to a suite folder (created when missing), so it replays with `npm run compat`.
 */
export interface SaveOptions {
  /** Admin base URL, e.g. http://127.0.0.1:8081 */
  admin: string;
  id: string;
  suite: string;
  /** Default: compat-tests/suites/<suite> under the project root. */
  suiteDir: string;
  name?: string;
}

export function defaultSuiteDir(projectRoot: string, suite: string): string {
  return join(projectRoot, 'compat-tests', 'suites', suite);
}

export async function saveShadowDifference(o: SaveOptions): Promise<{ name: string; dir: string }> {
  const url = new URL(`/gateway/shadow/differences/${encodeURIComponent(o.id)}/exchange`, o.admin);
  if (o.name) url.searchParams.set('name', o.name);
  const res = await fetch(url);
  const data: unknown = await res.json().catch(() => null);
  if (!res.ok) {
    const message = (data as { message?: string } | null)?.message ?? `HTTP ${res.status}`;
    throw new Error(`cannot fetch shadow difference ${o.id} from ${o.admin}: ${message}`);
  }
  const exchange = parseExchange(data, url.toString());
  appendExchange(o.suiteDir, o.suite, 'Differences captured by shadow mode (saved with `npm run shadow -- save`)', exchange);
  return { name: exchange.name, dir: o.suiteDir };
}
