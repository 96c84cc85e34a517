import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { appendExchange } from '../format/suite-store.js';
import { recordExchange, type RecorderTarget } from './recorder.js';
import { concretize, holdsOf, readScenarios, readVars } from './scenarios.js';

const USAGE = `npm run compat -- record --suite <name> --scenarios <file.json> --base <url> --redis <url>
    [--mock <url>] [--pg <postgres://...>] [--pg-schema public] [--vars <file>] [--tz 8]
    [--settle-ms 300] [--settle-max-ms 5000] [--only <text>] [--secondary] [--out <dir>]`;

/** `record`: run a scenario list sequentially against a live backend and append exchanges to a suite. */
export async function cmdRecord(argv: string[], suitesRoot: string): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      suite: { type: 'string' },
      scenarios: { type: 'string' },
      base: { type: 'string' },
      redis: { type: 'string' },
      mock: { type: 'string' },
      pg: { type: 'string' },
      'pg-schema': { type: 'string', default: 'public' },
      vars: { type: 'string' },
      tz: { type: 'string', default: process.env['TIMEZONE_OFFSET'] ?? '8' },
      'settle-ms': { type: 'string', default: '300' },
      'settle-max-ms': { type: 'string', default: '5000' },
      only: { type: 'string' },
      secondary: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  if (!values.suite || !values.scenarios || !values.base || !values.redis) {
    console.error(USAGE);
    return 2;
  }
  const scenarios = readScenarios(values.scenarios).filter((s) => !values.only || s.name.includes(values.only));
  const vars = readVars(values.vars);
  // fails before touching anything if a ${VAR} is missing
  const requests = scenarios.map((s) => ({
    ...concretize(s, vars),
    background: holdsOf(s).map((h) => ({ leadMs: h.startMs, request: concretize({ ...h, name: h.name }, vars) })),
    abort:
      s.abortAfterMs !== undefined || s.abortAtMs !== undefined
        ? { ...(s.abortAfterMs !== undefined ? { afterResponseMs: s.abortAfterMs } : {}), ...(s.abortAtMs !== undefined ? { afterSendMs: s.abortAtMs } : {}) }
        : undefined,
  }));
  const dir = values.out
    ? resolve(values.out)
    : values.secondary
      ? join(suitesRoot, values.suite, 'secondary')
      : join(suitesRoot, values.suite);
  const redis = new Redis(values.redis, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const sql = values.pg ? postgres(values.pg, { max: 1, onnotice: () => {} }) : null;
  const tz = Number.parseInt(values.tz, 10) || 8;
  const target: RecorderTarget = {
    base: values.base,
    redis,
    pg: sql ? { sql, schema: values['pg-schema'] } : null,
    mock: values.mock ?? null,
    timezoneOffsetHours: tz,
    settleMs: Number(values['settle-ms']),
    settleMaxMs: Number(values['settle-max-ms']),
    origin: values.scenarios,
  };
  let failures = 0;
  try {
    for (const req of requests) {
      const ex = await recordExchange(target, req, req.background, req.abort);
      appendExchange(dir, values.suite, `recorded from ${values.base} with ${values.scenarios}${values.secondary ? ' (secondary run)' : ''}`, ex);
      const ups = ex.upstream.length ? ` upstream=${ex.upstream.length}` : '';
      const died = ex.source.backendDied ? '  BACKEND DIED' : '';
      console.log(`recorded ${ex.name}: ${req.method} ${req.path} -> ${ex.response.status}${ups} (${ex.clock.elapsedMs} ms)${died}`);
      if (ex.response.status === 0) failures++;
    }
  } finally {
    redis.disconnect();
    await sql?.end();
  }
  console.log(`${requests.length} exchanges written to ${dir}`);
  return failures ? 1 : 0;
}
