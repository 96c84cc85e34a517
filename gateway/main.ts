/**
 * Gateway entry point (compiled to dist/gateway/main.js; `make run`).
 * Reads the environment (a bad value stops start-up with one line naming the variable), then runs the
 * gateway in this process, or GATEWAY_WORKERS processes through node:cluster.
 * Signals: SIGHUP reloads the routing table; SIGTERM/SIGINT drain in-flight requests and exit 0.
 */
import cluster from 'node:cluster';
import { pino } from 'pino';
import { ConfigError, loadConfig, type GatewayConfig } from './config/env.js';
import { createGateway } from './create.js';
import { fleetFromEnv } from './fleet/runtime.js';
import { shadowFromEnv } from './shadow/from-env.js';
import { RELOAD_MESSAGE, runPrimary, workerMetricsBridge } from './lifecycle/cluster.js';

async function runWorker(config: GatewayConfig): Promise<void> {
  const log = pino({ level: config.LOG_LEVEL, base: { svc: 'gateway', pid: process.pid } });
  const inCluster = cluster.isWorker;
  const clusterMetrics = inCluster ? workerMetricsBridge() : null; // /gateway/metrics = all workers merged
  const fleet = fleetFromEnv(process.env, config, log); // ROUTING_SOURCE=redis: follow the published table (gateway/fleet)
  const shadow = await shadowFromEnv(process.env, config, log); // SHADOW_ENABLED=true: live shadow comparison (gateway/shadow)
  const options = {
    config,
    logger: log,
    // the minute sweeps (migrated/maintenance); not in shadow mode, whose tap would see their writes among a request's
    maintenance: !shadow,
    ...(inCluster ? { onAdminReload: () => process.send?.(RELOAD_MESSAGE) } : {}),
    ...(clusterMetrics ? { collectMetrics: (local: string) => clusterMetrics.collect(local) } : {}),
    ...(await fleet?.gatewayOptions()),
  };
  const gateway = await createGateway(shadow ? shadow.extend(options) : options);
  clusterMetrics?.attach(() => gateway.metrics.registry.render());
  await fleet?.start(gateway);
  process.on('SIGHUP', () => {
    void (fleet ? fleet.refresh() : gateway.reload());
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, inFlight: gateway.inFlight() }, 'draining');
    Promise.all([fleet?.close(), gateway.close()]).then(
      () => process.exit(0),
      (err: Error) => {
        log.error({ err: err.message }, 'error while closing');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

let config: GatewayConfig;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

if (config.GATEWAY_WORKERS > 1 && cluster.isPrimary) {
  runPrimary(config.GATEWAY_WORKERS, (msg) => console.error(JSON.stringify({ level: 30, svc: 'gateway', pid: process.pid, msg })));
} else {
  runWorker(config).catch((err: Error) => {
    console.error(`gateway failed to start: ${err.message}`);
    process.exit(1);
  });
}
