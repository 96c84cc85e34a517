import { join } from 'node:path';
import { readSuite, listSuites } from './format/suite-store.js';
import type { Exchange } from './format/exchange.js';
import type { RouteResolution, RouteResolver } from './routing/resolve.js';
import { blankResult, summarize, type ExchangeResult, type RunReport } from './report/model.js';

export type ReplayFn = (suite: string, suiteDir: string, ex: Exchange, route: RouteResolution) => Promise<ExchangeResult>;

export interface RunOptions {
  suitesRoot: string;
  /** Only these suites (default: every suite folder with a suite.json). */
  suites?: string[];
  /** Only exchanges whose name contains this text. */
  filter?: string;
  resolver: RouteResolver;
  replay: ReplayFn;
  onResult?: (r: ExchangeResult) => void;
}

/** Every exchange of every suite, in order: replayed when its route is migrated, else "not migrated". */
export async function runSuites(opts: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const results: ExchangeResult[] = [];
  const names = opts.suites ?? listSuites(opts.suitesRoot);
  for (const suite of names) {
    const dir = join(opts.suitesRoot, suite);
    const loaded = readSuite(dir);
    for (const ex of loaded.exchanges) {
      if (opts.filter && !ex.name.includes(opts.filter)) continue;
      const route = opts.resolver.resolve(ex.request.method, ex.request.path);
      let result: ExchangeResult;
      if (!route.migrated) {
        result = blankResult(suite, ex, route, 'not-migrated', route.reason ?? 'not migrated');
      } else {
        const t0 = Date.now();
        try {
          result = await opts.replay(suite, dir, ex, route);
        } catch (err) {
          result = { ...blankResult(suite, ex, route, 'error', `replay failed: ${(err as Error).stack ?? String(err)}`), durationMs: Date.now() - t0 };
        }
      }
      results.push(result);
      opts.onResult?.(result);
    }
  }
  const { totals, failed } = summarize(results);
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    routing: opts.resolver.note,
    results,
    totals,
    failed,
  };
}
