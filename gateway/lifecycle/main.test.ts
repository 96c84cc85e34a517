import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test-support/free-port.js';
import { projectRoot } from '../../test-support/paths.js';
import { startOrigin, type Origin } from '../testing/origin.js';

/** gateway/main.ts as a real process tree: env validation, GATEWAY_WORKERS, SIGTERM drain. */

let origin: Origin;
let dir: string;
const children: ChildProcess[] = [];

function startMain(env: Record<string, string>): { proc: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: projectRoot,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exited, stderr: () => err };
}

async function waitForHttp(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

beforeAll(async () => {
  origin = await startOrigin();
  dir = mkdtempSync(join(tmpdir(), 'gw-main-'));
  writeFileSync(join(dir, 'table.json'), JSON.stringify({ version: 'main-test', routes: [{ id: 'all', paths: ['/*'], mode: 'legacy' }] }));
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway/main.ts', () => {
  it('refuses to start on a bad variable with one line naming it', async () => {
    const m = startMain({ GATEWAY_PORT: 'abc' });
    expect(await m.exited).toBe(1);
    expect(m.stderr().trim()).toBe('invalid configuration: GATEWAY_PORT="abc": must be a port number 0..65535');
    expect(m.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('with workers, an invalid routing table stops the whole group with exit code 1 (no restart loop)', async () => {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ routes: [{ id: 'x', paths: ['/x'], mode: 'migrated', module: 'nope' }] }));
    const m = startMain({ GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_WORKERS: '2', LEGACY_URL: origin.url, ROUTING_TABLE: join(dir, 'bad.json') });
    expect(await m.exited).toBe(1);
    expect(m.stderr()).toMatch(/route "x" field module: unknown migrated module "nope"/);
  });

  it('runs GATEWAY_WORKERS processes and drains an in-flight stream on SIGTERM, exiting 0', async () => {
    const [dataPort, adminPort] = [await freePort(), await freePort()];
    const m = startMain({
      GATEWAY_PORT: String(dataPort),
      GATEWAY_ADMIN_PORT: String(adminPort),
      GATEWAY_WORKERS: '2',
      LEGACY_URL: origin.url,
      ROUTING_TABLE: join(dir, 'table.json'),
    });
    await waitForHttp(`http://127.0.0.1:${adminPort}/gateway/health`, 20_000);
    // Both workers answer on the shared admin port.
    const pids = new Set<number>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      const h = (await (await fetch(`http://127.0.0.1:${adminPort}/gateway/health`, { headers: { connection: 'close' } })).json()) as { pid: number };
      pids.add(h.pid);
      if (pids.size < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pids.size).toBe(2);

    // Requests spread over both workers; /gateway/metrics (answered by either) counts all of them.
    for (let i = 0; i < 10; i++) {
      const r = await fetch(`http://127.0.0.1:${dataPort}/bytes/1`, { headers: { connection: 'close' } });
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
    for (let i = 0; i < 3; i++) {
      const text = await (await fetch(`http://127.0.0.1:${adminPort}/gateway/metrics`, { headers: { connection: 'close' } })).text();
      expect(text).toMatch(/^gateway_requests_total\{mode="legacy",route="all",side="legacy",status="2xx"\} 10$/m);
      expect(text.match(/^# TYPE gateway_requests_total counter$/gm)).toHaveLength(1);
    }

    const stream = new Promise<string>((resolve, reject) => {
      const req = request({ port: dataPort, host: '127.0.0.1', path: '/sse/8/100' }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (!t) m.proc.kill('SIGTERM');
          t += d;
        });
        res.on('end', () => resolve(t));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(await stream).toMatch(/^data: \{"n":1\}\n\n[\s\S]*event: done\ndata: \{"n":8\}\n\n$/);
    expect(await m.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${dataPort}/bytes/1`)).rejects.toThrow();
  });
});
