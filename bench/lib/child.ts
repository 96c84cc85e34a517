import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Run a TypeScript file as a separate Node process (same loader flags as this process, e.g. tsx), so a
 * benchmark's origin, system under test and load generator do not share one event loop. The child
 * announces readiness by printing one JSON line on stdout (e.g. {"port":1234}); stop() sends SIGTERM.
 */
export interface ChildService<T> {
  info: T;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** In a child started by startChild: exit when the parent goes away (its end of stdin closes). */
export function exitWithParent(): void {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

export function startChild<T = { port: number }>(
  file: string,
  env: Record<string, string> = {},
  timeoutMs = 15_000,
  nodeArgs: string[] = [],
): Promise<ChildService<T>> {
  return spawnReady<T>([...process.execArgv, ...nodeArgs, file], file, env, timeoutMs);
}

/** Like startChild, but plain node without this process's loader flags (node flags `nodeArgs` only): for a compiled .js file. */
export function startPlainChild<T = { port: number }>(file: string, env: Record<string, string> = {}, timeoutMs = 15_000, nodeArgs: string[] = []): Promise<ChildService<T>> {
  return spawnReady<T>([...nodeArgs, file], file, env, timeoutMs);
}

function spawnReady<T>(args: string[], file: string, env: Record<string, string>, timeoutMs: number): Promise<ChildService<T>> {
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${file} did not report ready within ${timeoutMs} ms`));
    }, timeoutMs);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited early (${code})`));
    });
    const lines = createInterface({ input: proc.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      resolve({
        info: JSON.parse(line) as T,
        proc,
        stop: () =>
          new Promise<void>((r) => {
            if (proc.exitCode !== null) return r();
            proc.once('exit', () => r());
            proc.kill('SIGTERM');
          }),
      });
    });
  });
}
