import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from '../../test-support/free-port.js';
import { projectRoot } from '../../test-support/paths.js';
import { testPgOptions } from '../../test-support/postgres.js';
import { PgStore } from '../../migrated/pg/store.js';
import { systemClock } from '../../migrated/runtime/clock.js';

/**
 * The gateway as operators run it (`node <heap flags> dist/gateway/main.js`: routing table, request log,
 * metrics, the migrated modules), as a child process for a benchmark. Resolves once its admin
 * `/gateway/health` answers (whatever its status). Its log goes to `logFile` (default /dev/null), as a production log would go
 * to a file or a pipe: written, not read.
 */
export interface GatewayProcess {
  port: number;
  adminPort: number;
  pid: number;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startGatewayProcess(
  mainJs: string,
  env: Record<string, string>,
  nodeArgs: string[],
  opts: { logFile?: string; timeoutMs?: number } = {},
): Promise<GatewayProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const out = openSync(opts.logFile ?? '/dev/null', 'w');
  const proc = spawn(process.execPath, [...nodeArgs, mainJs], {
    env: { ...process.env, GATEWAY_PORT: String(port), GATEWAY_ADMIN_PORT: String(adminPort), ...env },
    stdio: ['ignore', out, 'inherit'],
  });
  closeSync(out);
  let exited = false;
  proc.once('exit', () => (exited = true));
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    if (exited) throw new Error(`gateway exited during start (${mainJs})`);
    try {
      // any answer means it is serving (503 too: it reports an unreachable LEGACY_URL as unhealthy)
      const res = await fetch(`http://127.0.0.1:${adminPort}/gateway/health`);
      await res.arrayBuffer();
      break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error('gateway did not answer /gateway/health in time');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    adminPort,
    pid: proc.pid!,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** The compiled gateway the bench sections and tools run (`compileBenchServers` builds it). */
export const BENCH_GATEWAY_MAIN = join(projectRoot, 'node_modules', '.cache', 'relay-bench', 'gateway', 'main.js');

/** The node flags of `make run` / `npm start` (docs: bench/sections/50-claude-relay.ts). */
export const GATEWAY_NODE_ARGS = ['--max-semi-space-size=4', '--heap-growing-percent=30', '--single-threaded-gc'];

/**
 * The environment of a bench gateway: the given Redis, the lab's encryption key (BENCH_ENCRYPTION_KEY), the shipped
 * routing table, the request log at info, and PostgreSQL dual-write into `pgDatabase` (off without one).
 */
export function benchGatewayEnv(o: { redisPort: number; legacyUrl: string; pgDatabase?: string | null; extra?: Record<string, string> }): Record<string, string> {
  const pg = testPgOptions();
  return {
    REDIS_HOST: '127.0.0.1',
    REDIS_PORT: String(o.redisPort),
    ENCRYPTION_KEY: process.env.BENCH_ENCRYPTION_KEY ?? 'lab-encryption-key-32chars-00000',
    LEGACY_URL: o.legacyUrl,
    ROUTING_TABLE: join(projectRoot, 'routing-table.json'),
    LOG_LEVEL: 'info',
    ...(o.pgDatabase
      ? { POSTGRES_ENABLED: 'true', POSTGRES_DATABASE: o.pgDatabase, POSTGRES_HOST: pg.host, POSTGRES_PORT: String(pg.port), POSTGRES_USER: pg.username }
      : { POSTGRES_ENABLED: 'false' }),
    ...o.extra,
  };
}

/**
 * A private PostgreSQL database with the legacy's tables (the gateway takes POSTGRES_DATABASE, not a schema),
 * or null when PostgreSQL does not answer. `drop()` removes it.
 */
export async function privateDatabase(prefix: string): Promise<{ name: string; drop(): Promise<void> } | null> {
  const name = `${prefix}_${process.pid}_${Date.now() % 1e8}`;
  const admin = postgres({ ...testPgOptions(), database: 'postgres', max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } catch {
    await admin.end({ timeout: 1 });
    return null;
  }
  const sql = postgres({ ...testPgOptions(), database: name, max: 1, onnotice: () => {} });
  const ok = await new PgStore(sql, systemClock(8), { warn: () => {} }).ensureSchema().catch(() => false);
  await sql.end({ timeout: 1 });
  const drop = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await admin.end({ timeout: 1 });
  };
  if (!ok) {
    await drop();
    return null;
  }
  return { name, drop };
}
