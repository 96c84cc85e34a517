import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/**
 * A private, empty redis-server on a free port, for tests that need a clean keyspace.
 * Nothing is persisted; stop() kills it and removes its directory.
 */
export interface PrivateRedis {
  host: string;
  port: number;
  url: string;
  /** A fresh ioredis client on this server (closed by stop()). */
  client(): Redis;
  /** Kill and restart on the same port (for reconnect tests). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function waitForPing(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

export async function startPrivateRedis(extraArgs: string[] = []): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gw-redis-'));
  const clients: Redis[] = [];
  let proc: ChildProcess | undefined;

  const launch = async () => {
    proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
      { stdio: 'ignore' },
    );
    proc.on('error', (err) => {
      throw new Error(`cannot start redis-server (is it installed? apt-get install redis-server): ${err.message}`);
    });
    await waitForPing(port, Date.now() + 10_000);
  };
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };

  await launch();
  return {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    client() {
      const c = new Redis({ port, host: '127.0.0.1' });
      // Tests restart and stop servers under live clients: connection errors are expected then.
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
    async restart() {
      await kill();
      await launch();
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
