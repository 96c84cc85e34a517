import { join } from 'node:path';
import { listSuites, readSuite } from './format/suite-store.js';
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
  /** One replay function per worker (each with its own Redis, mock, PG schema): exchanges are independent. */
  replay: ReplayFn | ReplayFn[];
  /** Called in suite order, as soon as every earlier exchange is done. */
  onResult?: (r: ExchangeResult) => void;
}

interface Item {
  suite: string;
  dir: string;
  ex: Exchange;
}

/** Every exchange of every suite: replayed when its route is migrated, else "not migrated". */
export async function runSuites(opts: RunOptions): Promise<RunReport> {
  const started = Date.now();
  const items: Item[] = [];
  for (const suite of opts.suites ?? listSuites(opts.suitesRoot)) {
    const dir = join(opts.suitesRoot, suite);
    for (const ex of readSuite(dir).exchanges) if (!opts.filter || ex.name.includes(opts.filter)) items.push({ suite, dir, ex });
  }
  const results: Array<ExchangeResult | undefined> = new Array(items.length);
  let printed = 0;
  const flush = () => {
    while (printed < items.length && results[printed]) opts.onResult?.(results[printed++]!);
  };
  const one = async (replay: ReplayFn, { suite, dir, ex }: Item): Promise<ExchangeResult> => {
    const route = opts.resolver.resolve(ex.request.method, ex.request.path);
    if (!route.migrated) return blankResult(suite, ex, route, 'not-migrated', route.reason ?? 'not migrated');
    const t0 = Date.now();
    try {
      return await replay(suite, dir, ex, route);
    } catch (err) {
      return { ...blankResult(suite, ex, route, 'error', `replay failed: ${(err as Error).stack ?? String(err)}`), durationMs: Date.now() - t0 };
    }
  };
  // timing-sensitive exchanges (client hang-ups, requests held in flight) run alone at the end
  const pool = Array.isArray(opts.replay) ? opts.replay : [opts.replay];
  const sensitive = (it: Item) => !!(it.ex.clientAbort || it.ex.background?.length);
  const queue = items.map((_, i) => i).filter((i) => !sensitive(items[i]!));
  const alone = items.map((_, i) => i).filter((i) => sensitive(items[i]!));
  await Promise.all(
    pool.map(async (replay) => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
        results[i] = await one(replay, items[i]!);
        flush();
      }
    }),
  );
  for (const i of alone) {
    results[i] = await one(pool[0]!, items[i]!);
    flush();
  }
  const done = results as ExchangeResult[];
  const { totals, failed } = summarize(done);
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    routing: opts.resolver.note,
    results: done,
    totals,
    failed,
  };
}
