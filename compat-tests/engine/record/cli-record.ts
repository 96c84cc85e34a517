import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { appendExchange } from '../format/suite-store.js';
import { decodeBytes } from '../format/bytes.js';
import { sendCaptured } from './http-capture.js';
import { recordExchange, type RecorderTarget } from './recorder.js';
import { runSteps } from './run-steps.js';
import { freshGroup, isFresh, readSteps, readVars } from './scenarios.js';

const USAGE = `npm run compat -- record --suite <name> --scenarios <file.json> --base <url> --redis <url>
    [--mock <url>] [--pg <postgres://...>] [--pg-schema public] [--vars <file>] [--tz 8]
    [--settle-ms 300] [--settle-max-ms 5000] [--only <text>] [--group <n>] [--reset <command>]
    [--secondary] [--out <dir>]`;

/** Runs the reset command through the shell (its output goes to stderr); a non-zero exit is an error. */
function runReset(cmd: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', rej);
    child.on('exit', (code, signal) => (code === 0 ? res() : rej(new Error(`reset command "${cmd}" failed (${signal ?? `exit ${code}`})`))));
  });
}

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
      group: { type: 'string' },
      reset: { type: 'string' },
    },
  });
  if (!values.suite || !values.scenarios || !values.base || !values.redis) {
    console.error(USAGE);
    return 2;
  }
  let steps = readSteps(values.scenarios);
  if (values.group) steps = freshGroup(steps, Number.parseInt(values.group, 10));
  if (values.only) steps = steps.filter((s) => isFresh(s) || s.name.includes(values.only!));
  if (steps.some(isFresh) && !values.reset) {
    console.error(`${values.scenarios} has fresh reset points ({"fresh": true}): give --reset <command> (e.g. /work/lab/rec-reset.sh); it runs at each, then --vars is re-read`);
    return 2;
  }
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
  const description = `recorded from ${values.base} with ${values.scenarios}${values.secondary ? ' (secondary run)' : ''}`;
  const resetCmd = values.reset;
  try {
    const counts = await runSteps(steps, {
      loadVars: () => readVars(values.vars),
      reset: resetCmd ? () => (console.log(`reset: ${resetCmd}`), runReset(resetCmd)) : null,
      record: async (req, background, abort) => {
        const ex = await recordExchange(target, req, background, abort);
        appendExchange(dir, values.suite!, description, ex);
        const ups = ex.upstream.length ? ` upstream=${ex.upstream.length}` : '';
        const died = ex.source.backendDied ? '  BACKEND DIED' : '';
        console.log(`recorded ${ex.name}: ${req.method} ${req.path} -> ${ex.response.status}${ups} (${ex.clock.elapsedMs} ms)${died}`);
        if (ex.response.status === 0) failures++;
        return { status: ex.response.status, body: decodeBytes(ex.response.body) };
      },
      send: async (req) => {
        const res = await sendCaptured(target.base, req);
        console.log(`sent ${req.name} (not recorded): ${req.method} ${req.path} -> ${res.status}`);
        if (res.status === 0) failures++;
        return res;
      },
    });
    console.log(`${counts.recorded} exchanges written to ${dir} (${counts.sent} setup steps sent, ${counts.resets} resets)`);
  } finally {
    redis.disconnect();
    await sql?.end();
  }
  return failures ? 1 : 0;
}
