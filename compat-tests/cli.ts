/**
 * `npm run compat -- <command> [options]` — the compatibility engine's entry point.
 *
 *   run (default)   replay every suite against the migrated modules, print one line per exchange
 *                   and a per-route table, write compat-tests/reports/report.{json,html};
 *                   exit 1 on any unexpected difference or error.
 *   import          convert a shared trace folder (../shared/legacy-traces) into a suite.
 *   record          run a scenario list against a live backend and write exchanges.
 *   learn-noise     propose noise rules from two legacy recordings of the same scenarios.
 *   mock            start the TypeScript mock upstream in the foreground.
 *
 * Details and the "Proving a route" walkthrough: docs/compat.md.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join, relative } from 'node:path';
import { projectRoot, legacyTracesDir } from '../test-support/paths.js';
import { knownModuleNames } from '../migrated/registry.js';
import { importTraces } from './engine/import/shared-traces.js';
import { readManifest, suiteExists, writeSuite } from './engine/format/suite-store.js';
import { readScenarios } from './engine/record/scenarios.js';
import { loadRouteResolver } from './engine/routing/resolve.js';
import { runSuites } from './engine/run-suites.js';
import { exchangeLine, routeTable, totalsLine } from './engine/report/console.js';
import { writeReports } from './engine/report/write.js';

export const suitesRoot = join(projectRoot, 'compat-tests', 'suites');
const reportsDir = join(projectRoot, 'compat-tests', 'reports');

async function cmdRun(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: 'string', multiple: true },
      only: { type: 'string' },
      'report-dir': { type: 'string' },
      table: { type: 'string' },
      quiet: { type: 'boolean' },
      jobs: { type: 'string' },
      'suites-root': { type: 'string' },
    },
  });
  const resolver = await loadRouteResolver({ tableFile: values.table, moduleNames: knownModuleNames() });
  if (resolver.error) {
    console.error(resolver.error);
    return 1;
  }
  const { createReplayer } = await import('./engine/replay/replayer.js');
  // exchanges are independent: a few workers, each with its own Redis, mock upstream and PG schema
  const jobs = Math.max(1, Number.parseInt(values.jobs ?? process.env['COMPAT_JOBS'] ?? '3', 10) || 1);
  const replayers = await Promise.all(Array.from({ length: jobs }, () => createReplayer({ resolver })));
  const replayer = replayers[0]!;
  let report;
  try {
    report = await runSuites({
      suitesRoot: values['suites-root'] ?? suitesRoot,
      suites: values.suite,
      filter: values.only,
      resolver,
      replay: replayers.map((r) => r.replay),
      onResult: (r) => {
        if (!values.quiet || r.outcome === 'differs' || r.outcome === 'error') console.log(exchangeLine(r));
      },
    });
  } finally {
    await Promise.all(replayers.map((r) => r.close()));
  }
  report.routing += `; ${replayer.pgNote}`;
  console.log('');
  console.log(routeTable(report.results));
  console.log('');
  const paths = writeReports(values['report-dir'] ?? reportsDir, report);
  console.log(`reports: ${paths.json}  ${paths.html}`);
  console.log(`routing: ${report.routing}`);
  console.log(totalsLine(report));
  return report.failed ? 1 : 0;
}

async function cmdImport(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      from: { type: 'string', default: legacyTracesDir },
      suite: { type: 'string', default: 'legacy-shared' },
      tz: { type: 'string', default: '8' },
      scenarios: { type: 'string' },
    },
  });
  const dir = join(suitesRoot, values.suite);
  // the scenario list rebuilds requests held in flight (holdWith); a suite keeps its list beside it
  const beside = [join(dir, 'scenarios.json'), join(dir, '..', 'scenarios.json')].find((f) => existsSync(f));
  const scenarioFile = values.scenarios ?? beside;
  const exchanges = importTraces(values.from, {
    timezoneOffsetHours: Number(values.tz),
    ...(scenarioFile ? { scenarios: readScenarios(scenarioFile) } : {}),
  });
  writeSuite(
    dir,
    {
      suite: values.suite,
      description: suiteExists(dir) ? readManifest(dir).description : `imported from ${relative(projectRoot, values.from)} (real legacy @ b565610a)`,
      exchanges: exchanges.map((e) => e.name),
    },
    exchanges,
  );
  console.log(`imported ${exchanges.length} exchanges into ${dir}${scenarioFile ? ` (held requests rebuilt from ${scenarioFile})` : ''}`);
  return 0;
}

async function main(): Promise<number> {
  const [first, ...rest] = process.argv.slice(2);
  const command = !first || first.startsWith('-') ? 'run' : first;
  const args = !first || first.startsWith('-') ? process.argv.slice(2) : rest;
  switch (command) {
    case 'run':
      return cmdRun(args);
    case 'import':
      return cmdImport(args);
    case 'record': {
      const { cmdRecord } = await import('./engine/record/cli-record.js');
      return cmdRecord(args, suitesRoot);
    }
    case 'learn-noise': {
      const { cmdLearnNoise } = await import('./engine/noise/cli-learn.js');
      return cmdLearnNoise(args, suitesRoot);
    }
    case 'mock': {
      const { cmdMock } = await import('./mock-upstream/cli-mock.js');
      return cmdMock(args);
    }
    default:
      console.error(`unknown command "${command}" (run | import | record | learn-noise | mock)`);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 2;
  },
);
