import cluster, { type Worker } from 'node:cluster';
import { mergeExpositions } from '../observability/merge-exposition.js';

/**
 * GATEWAY_WORKERS > 1: the primary forks N workers that share the data and admin ports (node:cluster),
 * forwards SIGHUP (reload) to all of them, merges every worker's metrics for `/gateway/metrics` (whichever
 * worker answers the scrape), relays a reload asked on one worker's admin port to the
 * others, replaces a worker that dies after it was serving (one that never got to listen stops the whole
 * group with exit code 1 instead of looping), and on SIGTERM/SIGINT drains them all and exits 0.
 */

export const RELOAD_MESSAGE = 'gateway:reload-all';

/** IPC messages for cluster-wide /gateway/metrics (a worker asks; the primary gathers from all and merges). */
type MetricsMessage =
  | { t: 'gw:metrics?'; id: string }
  | { t: 'gw:metrics-collect'; id: string }
  | { t: 'gw:metrics-part'; id: string; text: string }
  | { t: 'gw:metrics!'; id: string; text: string };

const isMetricsMessage = (m: unknown): m is MetricsMessage =>
  typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' && (m as { t: string }).t.startsWith('gw:metrics');

const COLLECT_TIMEOUT_MS = 1500;

/** Primary side: gather every live worker's exposition for request `id` and merge (slow workers are left out). */
function collectFromWorkers(id: string): Promise<string> {
  const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
  return new Promise((resolve) => {
    const parts: string[] = [];
    const done = () => {
      clearTimeout(timer);
      for (const w of workers) w.off('message', onPart);
      resolve(mergeExpositions(parts));
    };
    const onPart = (msg: unknown) => {
      if (isMetricsMessage(msg) && msg.t === 'gw:metrics-part' && msg.id === id) {
        parts.push(msg.text);
        if (parts.length === workers.length) done();
      }
    };
    const timer = setTimeout(done, COLLECT_TIMEOUT_MS);
    for (const w of workers) {
      w.on('message', onPart);
      w.send({ t: 'gw:metrics-collect', id } satisfies MetricsMessage);
    }
    if (workers.length === 0) done();
  });
}

/**
 * Worker side: answer the primary's collection requests with this worker's exposition, and ask for the
 * merged one (falls back to the local exposition when the primary does not answer in time).
 */
export function workerMetricsBridge(): { attach(render: () => string): void; collect(local: string): Promise<string> } {
  let render: () => string = () => '';
  let seq = 0;
  const waiting = new Map<string, (text: string) => void>();
  process.on('message', (msg: unknown) => {
    if (!isMetricsMessage(msg)) return;
    if (msg.t === 'gw:metrics-collect') process.send?.({ t: 'gw:metrics-part', id: msg.id, text: render() } satisfies MetricsMessage);
    else if (msg.t === 'gw:metrics!') waiting.get(msg.id)?.(msg.text);
  });
  return {
    attach(r) {
      render = r;
    },
    collect(local) {
      const id = `${process.pid}-${++seq}`;
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(local);
        }, COLLECT_TIMEOUT_MS + 500);
        waiting.set(id, (text) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(text);
        });
        process.send?.({ t: 'gw:metrics?', id } satisfies MetricsMessage);
      });
    },
  };
}

export function runPrimary(workers: number, log: (msg: string) => void): void {
  let stopping = false;
  const listening = new WeakSet<Worker>();
  const spawn = (): Worker => {
    const w = cluster.fork();
    w.once('listening', () => listening.add(w));
    w.on('message', (msg: unknown) => {
      if (msg === RELOAD_MESSAGE) {
        for (const other of Object.values(cluster.workers ?? {})) if (other && other !== w) other.process.kill('SIGHUP');
      } else if (isMetricsMessage(msg) && msg.t === 'gw:metrics?') {
        void collectFromWorkers(msg.id).then((text) => {
          if (w.isConnected()) w.send({ t: 'gw:metrics!', id: msg.id, text } satisfies MetricsMessage);
        });
      }
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
