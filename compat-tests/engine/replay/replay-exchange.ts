import type { Exchange } from '../format/exchange.js';
import type { RouteResolution } from '../routing/resolve.js';
import type { ExchangeResult } from '../report/model.js';

/** Placeholder until the replayer lands (see docs/compat.md). */
export async function replayExchange(
  _suite: string,
  _suiteDir: string,
  ex: Exchange,
  _route: RouteResolution,
): Promise<ExchangeResult> {
  throw new Error(`replay not implemented yet for ${ex.name}`);
}
