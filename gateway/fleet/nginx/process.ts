import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Run nginx unprivileged-style for tests and drills: its own prefix, temp dirs, pid and logs under a temp
 * folder, a generated main config that includes the http-level config under test, in the foreground as a
 * child process (killed by stop()). Also `nginx -t` on the same layout.
 */

export const NGINX_BIN = process.env.NGINX_BIN ?? 'nginx';

export interface NginxLayout {
  prefix: string;
  mainConf: string;
  siteConf: string;
  errorLog: string;
}

let modulesCache: string | undefined;
/** `nginx -V` output (written to stderr), to know which temp paths this build has. */
function compiledModules(): string {
  if (modulesCache === undefined) {
    const r = spawnSync(NGINX_BIN, ['-V'], { encoding: 'utf8' });
    modulesCache = r.error ? '' : `${r.stdout}${r.stderr}`;
  }
  return modulesCache;
}

/** Fail with one clear line when the nginx binary is missing. */
export function requireNginx(): void {
  const r = spawnSync(NGINX_BIN, ['-v'], { encoding: 'utf8' });
  if (r.error) throw new Error(`nginx is not installed or not on PATH (${NGINX_BIN}): Debian: apt-get install nginx-light; or set NGINX_BIN`);
}

/** The main nginx.conf wrapping `siteConf` (an http-level file) for a private prefix. */
export function renderMainConf(prefix: string, siteConf: string, opts: { workers?: number; accessLog?: boolean } = {}): string {
  const mods = compiledModules();
  const temp = ['client_body', 'proxy']
    .concat(mods.includes('--without-http_fastcgi_module') ? [] : ['fastcgi'])
    .concat(mods.includes('--without-http_uwsgi_module') ? [] : ['uwsgi'])
    .concat(mods.includes('--without-http_scgi_module') ? [] : ['scgi']);
  for (const t of temp) mkdirSync(join(prefix, 'temp', t), { recursive: true });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return [
    'daemon off;',
    'master_process on;',
    `worker_processes ${opts.workers ?? 1};`,
    ...(isRoot ? ['user root root;'] : []),
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} notice;`,
    'worker_rlimit_nofile 8192;',
    'events {',
    '    worker_connections 4096;',
    '}',
    'http {',
    opts.accessLog ? `    access_log ${join(prefix, 'access.log')};` : '    access_log off;',
    ...temp.map((t) => `    ${t}_temp_path ${join(prefix, 'temp', t)};`),
    `    include ${siteConf};`,
    '}',
    '',
  ].join('\n');
}

export function prepareLayout(siteText: string, opts: { workers?: number; accessLog?: boolean } = {}): NginxLayout {
  const prefix = mkdtempSync(join(tmpdir(), 'gw-nginx-'));
  const siteConf = join(prefix, 'site.conf');
  writeFileSync(siteConf, siteText);
  const mainConf = join(prefix, 'nginx.conf');
  writeFileSync(mainConf, renderMainConf(prefix, siteConf, opts));
  return { prefix, mainConf, siteConf, errorLog: join(prefix, 'error.log') };
}

export interface NginxTestResult {
  ok: boolean;
  output: string;
}

/** `nginx -t` of an http-level config in a private prefix. */
export async function testConfig(siteText: string): Promise<NginxTestResult> {
  requireNginx();
  const layout = prepareLayout(siteText);
  try {
    return await new Promise((resolve) => {
      execFile(NGINX_BIN, ['-t', '-p', layout.prefix, '-c', layout.mainConf], (err, stdout, stderr) => {
        resolve({ ok: !err, output: `${stdout}${stderr}`.trim() });
      });
    });
  } finally {
    rmSync(layout.prefix, { recursive: true, force: true });
  }
}

export interface RunningNginx {
  layout: NginxLayout;
  pid: number;
  /** Write a new site config and reload (SIGHUP); resolves once the master re-read it. */
  reload(siteText: string): Promise<void>;
  errorLog(): string;
  stop(): Promise<void>;
}

function waitForPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nginx did not listen on ${port}`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

/** Start nginx in the foreground with `siteText`; waits until `waitPort` accepts connections. */
export async function startNginx(
  siteText: string,
  waitPort: number,
  opts: { workers?: number; accessLog?: boolean } = {},
): Promise<RunningNginx> {
  requireNginx();
  const layout = prepareLayout(siteText, opts);
  const check = await new Promise<string | null>((resolve) => {
    execFile(NGINX_BIN, ['-t', '-p', layout.prefix, '-c', layout.mainConf], (err, stdout, stderr) =>
      resolve(err ? `${stdout}${stderr}` : null),
    );
  });
  if (check) {
    rmSync(layout.prefix, { recursive: true, force: true });
    throw new Error(`nginx -t failed:\n${check}`);
  }
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', layout.prefix, '-c', layout.mainConf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const readLog = () => {
    try {
      return readFileSync(layout.errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  try {
    await Promise.race([
      waitForPort(waitPort, Date.now() + 10_000),
      exited.then(() => {
        throw new Error(`nginx exited at start: ${stderr}${readLog()}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(layout.prefix, { recursive: true, force: true });
    throw err;
  }
  return {
    layout,
    pid: child.pid!,
    async reload(text) {
      writeFileSync(layout.siteConf, text);
      const before = readLog().length;
      child.kill('SIGHUP');
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const log = readLog().slice(before);
        if (/start worker process|reconfiguring/.test(log) || log.includes('signal 1 (SIGHUP) received')) {
          await new Promise((r) => setTimeout(r, 100));
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    errorLog: readLog,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGTERM = fast shutdown of master and workers; SIGKILL if it hangs.
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(t);
      }
      rmSync(layout.prefix, { recursive: true, force: true });
    },
  };
}
