import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../migrated/storage/redis-client.js';
import { freePort } from '../../test-support/free-port.js';
import { projectRoot } from '../../test-support/paths.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { runRoutesCli } from '../cli/routes.js';
import { send } from './nginx/send.js';
import { startLabelServer, type LabelServer } from './nginx/label-server.js';
import { publishTable } from './published-table.js';

/**
 * gateway/main.ts with ROUTING_SOURCE=redis, as a real process: starts on the published table (not its
 * file), follows new revisions, reports the fleet in /gateway/health and /gateway/routes, reloads from
 * Redis, keeps its last good table when Redis goes away. Also the `routes` CLI's publish/fleet commands.
 */

const table = (version: string, extra: Array<Record<string, unknown>> = []) => ({
  version,
  routes: [...extra, { id: 'unknown', paths: ['/*'], mode: 'legacy' }],
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 8_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('gateway/main.ts following the published table (ROUTING_SOURCE=redis)', () => {
  let redis: PrivateRedis;
  let redisStopped = false;
  let admin: Redis;
  let origin: LabelServer;
  let proc: ChildProcess;
  let dir: string;
  let tableFile: string;
  let dataPort: number;
  let adminPort: number;
  let stderr = '';
  const cliOut: string[] = [];
  const cli = (...args: string[]) =>
    runRoutesCli(args, {
      env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) },
      tablePath: tableFile,
      out: (l) => cliOut.push(l),
      err: (l) => cliOut.push(l),
    });
  const json = async (path: string, method = 'GET') => {
    const r = await send(adminPort, method, path, { timeoutMs: 3_000 });
    return { status: r.status, body: JSON.parse(r.body) as Record<string, any> };
  };

  async function startMain(): Promise<void> {
    stderr = '';
    proc = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH ?? '',
        ROUTING_SOURCE: 'redis',
        FLEET_INSTANCE_ID: 'main-1',
        FLEET_POLL_MS: '200',
        GATEWAY_PORT: String(dataPort),
        GATEWAY_ADMIN_PORT: String(adminPort),
        GATEWAY_HOST: '127.0.0.1',
        LEGACY_URL: `http://127.0.0.1:${origin.port}`,
        REDIS_HOST: '127.0.0.1',
        REDIS_PORT: String(redis.port),
        ROUTING_TABLE: tableFile,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // pino logs to stdout; start-up failures go to stderr
    proc.stdout?.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await until('the admin port', async () => ((await json('/gateway/routes')).status === 200 ? true : undefined), 20_000);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-fleet-main-'));
    tableFile = join(dir, 'routing-table.json');
    writeFileSync(tableFile, JSON.stringify(table('from-file')));
    redis = await startPrivateRedis();
    admin = createRedisClient({ REDIS_HOST: '127.0.0.1', REDIS_PORT: redis.port, REDIS_PASSWORD: '', REDIS_DB: 0, REDIS_ENABLE_TLS: false });
    origin = await startLabelServer('legacy');
    [dataPort, adminPort] = [await freePort(), await freePort()];
    const r = await publishTable(admin, table('first'), { knownModules: [], by: 'test', now: Date.now() });
    expect(r.ok).toBe(true);
    await startMain();
  }, 40_000);

  afterAll(async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    }
    await origin?.close();
    admin?.disconnect();
    if (!redisStopped) await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts on the published table, not its file, and reports itself in the fleet', async () => {
    const routes = await json('/gateway/routes');
    expect(routes.body.version).toBe('first@r1');
    expect(routes.body.fleet.instances).toMatchObject([{ instanceId: 'main-1', revision: 1, state: 'in-sync' }]);
    expect(routes.body.fleet.converged).toBe(true);
    const health = await json('/gateway/health');
    expect(health.body.fleet).toMatchObject({ state: 'in-sync', instanceId: 'main-1', redis: 'ok', runningRevision: 1, servingLastGoodTable: false });
    const metrics = (await send(adminPort, 'GET', '/gateway/metrics')).body;
    expect(metrics).toMatch(/^gateway_requests_total|^# (HELP|TYPE) gateway_/m); // the gateway's own metrics are still there
    expect(metrics).toMatch(/^gateway_fleet_applied_revision 1$/m);
    expect(metrics).toMatch(/^gateway_fleet_in_sync 1$/m);
    expect(metrics).toMatch(/^gateway_fleet_redis_up 1$/m);
  });

  it('follows a publish from the CLI; the file is not watched; reload and SIGHUP read Redis', async () => {
    writeFileSync(tableFile, JSON.stringify(table('second', [{ id: 'web', paths: ['/web/*'], mode: 'legacy' }])));
    expect(await cli('publish', '--wait', '3000')).toBe(0);
    expect(cliOut.join('\n')).toMatch(/published r2 \(was r1\), version second/);
    expect(cliOut.join('\n')).toMatch(/main-1\s+in-sync\s+r2/);
    expect(cliOut.join('\n')).toMatch(/fleet: converged/);
    expect((await json('/gateway/routes')).body.version).toBe('second@r2');

    writeFileSync(tableFile, JSON.stringify(table('edited-file')));
    await new Promise((r) => setTimeout(r, 400));
    expect((await json('/gateway/routes')).body.version).toBe('second@r2');

    const reload = await json('/gateway/reload', 'POST');
    expect(reload.status).toBe(200);
    expect(reload.body).toMatchObject({ ok: true, source: 'redis', state: 'in-sync' });
    proc.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 200));
    expect((await json('/gateway/routes')).body.version).toBe('second@r2');

    // Roll back in one command.
    cliOut.length = 0;
    expect(await cli('publish', '--rollback', '--wait', '3000')).toBe(0);
    expect(cliOut.join('\n')).toMatch(/published r3 \(was r2\), version first/);
    expect((await json('/gateway/routes')).body.version).toBe('first@r3');
    // ... and the file holds the restored table, so the next publish does not undo the rollback.
    expect(JSON.parse(readFileSync(tableFile, 'utf8'))).toEqual(table('first'));
    expect(cliOut.join('\n')).toMatch(/wrote the restored table \(r1\) to /);
  });

  it('routes fleet shows the published revision and each instance; a stale entry is pruned', async () => {
    await admin.hset('gateway:fleet:instances', 'gone-1', JSON.stringify({ instanceId: 'gone-1', host: 'h', pid: 1, revision: 1, version: 'first@r1', sha256: null, appliedAt: 1, heartbeatAt: 1, startedAt: 1, lastError: null }));
    cliOut.length = 0;
    expect(await cli('fleet')).toBe(0); // silent instances do not count against convergence
    const text = cliOut.join('\n');
    expect(text).toMatch(/^published: r3 first@r3 by /m);
    expect(text).toMatch(/^gone-1\s+silent\s+r1/m);
    expect(text).toMatch(/^main-1\s+in-sync\s+r3\s+\S+\s+\d+/m);
    cliOut.length = 0;
    expect(await cli('fleet', '--prune-older-than', '60000')).toBe(0);
    expect(cliOut.join('\n')).toMatch(/pruned: gone-1/);
    expect(await admin.hexists('gateway:fleet:instances', 'gone-1')).toBe(0);
  });

  it('an invalid publish is refused by the CLI and nothing changes', async () => {
    writeFileSync(tableFile, JSON.stringify({ routes: [{ id: 'x', paths: ['/x'], mode: 'migrated', module: 'no-such-module' }] }));
    cliOut.length = 0;
    expect(await cli('publish')).toBe(1);
    expect(cliOut.join('\n')).toMatch(/not published:\n\s+route "x" field module: unknown migrated module "no-such-module"/);
    expect((await json('/gateway/routes')).body.version).toBe('first@r3');
  });

  it('keeps serving its last good table when Redis goes away, and says so', async () => {
    await redis.stop();
    redisStopped = true;
    const health = await until('health to report Redis gone', async () => {
      const h = await json('/gateway/health');
      return h.body.fleet?.state === 'redis-unreachable' ? h : undefined;
    });
    expect(health.body.fleet).toMatchObject({ redis: 'unreachable', runningRevision: 3, servingLastGoodTable: true });
    expect(health.body.fleet.detail).toMatch(/runs first@r3; keeps serving it/);
    const served = await send(dataPort, 'GET', '/web/x');
    expect(served.status).toBe(200);
    expect(JSON.parse(served.body).side).toBe('legacy');
    const routes = await json('/gateway/routes');
    expect(routes.body.version).toBe('first@r3');
    expect(routes.body.fleet.error).toMatch(/fleet view unavailable/);
    const metrics = (await send(adminPort, 'GET', '/gateway/metrics')).body;
    expect(metrics).toMatch(/^gateway_fleet_redis_up 0$/m);
    expect(metrics).toMatch(/^gateway_fleet_applied_revision 3$/m);
  });

  it('restarted while Redis is still away, it comes back on the last applied table (local copy), not its file', async () => {
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    await startMain();
    const routes = await json('/gateway/routes');
    expect(routes.body.version).toBe('first@r3');
    await until('the start-up log line', async () => (/serving the last applied table \(local copy\)/.test(stderr) ? true : undefined));
    const health = await until('health to report Redis gone', async () => {
      const h = await json('/gateway/health');
      return h.body.fleet?.state === 'redis-unreachable' ? h : undefined;
    });
    expect(health.body.fleet).toMatchObject({ redis: 'unreachable', runningRevision: 3, servingLastGoodTable: true });
    expect(health.body.fleet.detail).toMatch(/runs first@r3; keeps serving it/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    expect(code, stderr).toBe(0);
  });
});
