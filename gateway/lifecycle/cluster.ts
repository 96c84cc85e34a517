import cluster, { type Worker } from 'node:cluster';

/**
 * GATEWAY_WORKERS > 1: the primary forks N workers that share the data and admin ports (node:cluster),
 * forwards SIGHUP (reload) to all of them, relays a reload asked on one worker's admin port to the
 * others, replaces a worker that dies after it was serving (one that never got to listen stops the whole
 * group with exit code 1 instead of looping), and on SIGTERM/SIGINT drains them all and exits 0.
 */

export const RELOAD_MESSAGE = 'gateway:reload-all';

export function runPrimary(workers: number, log: (msg: string) => void): void {
  let stopping = false;
  const listening = new WeakSet<Worker>();
  const spawn = (): Worker => {
    const w = cluster.fork();
    w.once('listening', () => listening.add(w));
    w.on('message', (msg: unknown) => {
      if (msg === RELOAD_MESSAGE) for (const other of Object.values(cluster.workers ?? {})) if (other && other !== w) other.process.kill('SIGHUP');
    });
    return w;
  };
  for (let i = 0; i < workers; i++) spawn();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? 0);
      return;
    }
    if (!listening.has(worker)) {
      // It never started (bad table, port in use...): restarting would only loop. Stop everything.
      log(`worker ${worker.process.pid} failed to start (${signal ?? code}); stopping`);
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exitCode = 1;
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
      return;
    }
    log(`worker ${worker.process.pid} exited (${signal ?? code}); starting a new one`);
    spawn();
  });
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    log('draining workers');
    const alive = Object.values(cluster.workers ?? {});
    if (alive.length === 0) process.exit(0);
    for (const w of alive) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
