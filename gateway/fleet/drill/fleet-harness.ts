import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { send } from '../nginx/send.js';

/**
 * Gateway instances of the drill as real child processes: start (wait for READY), SIGKILL, SIGTERM,
 * restart on the same ports, and read each one's fleet state from its admin port.
 */

const here = fileURLToPath(new URL('.', import.meta.url));
export const projectDir = join(here, '..', '..', '..');
const entry = join(here, 'instance.ts');

export interface InstanceSpec {
  id: string;
  dataPort: number;
  adminPort: number;
  env: Record<string, string>;
}

export interface SelfState {
  applied: { revision: number; appliedAt: number } | null;
  redis: string;
  lastError: unknown;
}

export interface DrillInstance {
  readonly spec: InstanceSpec;
  readonly address: string;
  pid(): number | undefined;
  running(): boolean;
  /** Resolves when the process has exited (current process). */
  exited(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  self(): Promise<SelfState | null>;
  output(): string;
}

export function drillInstance(spec: InstanceSpec): DrillInstance {
  let proc: ChildProcess | null = null;
  let exit: Promise<void> = Promise.resolve();
  let log = '';
  const running = () => !!proc && proc.exitCode === null && proc.signalCode === null;
  return {
    spec,
    address: `127.0.0.1:${spec.dataPort}`,
    pid: () => proc?.pid,
    running,
    exited: () => exit,
    async start() {
      if (running()) throw new Error(`${spec.id} already running`);
      const child = spawn(process.execPath, ['--import', 'tsx', entry], {
        cwd: projectDir,
        env: {
          PATH: process.env.PATH ?? '',
          GATEWAY_PORT: String(spec.dataPort),
          GATEWAY_ADMIN_PORT: String(spec.adminPort),
          GATEWAY_HOST: '127.0.0.1',
          FLEET_INSTANCE_ID: spec.id,
          LOG_LEVEL: process.env.DRILL_LOG ?? 'warn',
          ...spec.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc = child;
      // Production gateways own their servers; on a shared CI machine they compete with every test
      // worker. A higher scheduling priority (when allowed, i.e. as root) keeps the convergence goal a
      // measure of the gateway rather than of the machine's other load.
      try {
        if (child.pid) setPriority(child.pid, -5);
      } catch {
        // not permitted: run at normal priority
      }
      exit = new Promise((resolve) => child.once('exit', () => resolve()));
      child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`${spec.id} did not start within 30 s:\n${log}`)), 30_000);
        child.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('READY ')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${spec.id} exited at start (${signal ?? code}):\n${log}`));
        });
      });
    },
    async kill(signal) {
      if (!running()) return;
      proc!.kill(signal);
      await exit;
    },
    async self() {
      try {
        const r = await send(spec.adminPort, 'GET', '/gateway/fleet', { timeoutMs: 2_000 });
        if (r.status !== 200) return null;
        return (JSON.parse(r.body) as { self: SelfState }).self;
      } catch {
        return null;
      }
    },
    output: () => log,
  };
}
