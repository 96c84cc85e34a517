/**
 * One gateway instance of the fleet drill, as its own process (`node --import tsx gateway/fleet/drill/instance.ts`):
 * the real createGateway + the fleet hook (ROUTING_SOURCE=redis) + the drill-echo module.
 * Environment: the gateway's (GATEWAY_PORT, GATEWAY_ADMIN_PORT, LEGACY_URL, REDIS_PORT, ROUTING_TABLE...)
 * and FLEET_INSTANCE_ID / FLEET_POLL_MS. Prints `READY <dataPort> <adminPort>` once serving.
 * SIGTERM drains in-flight requests and exits 0.
 */
import { pino } from 'pino';
import { loadConfig } from '../../config/env.js';
import { createGateway } from '../../create.js';
import { createFleetRuntime, loadFleetEnv } from '../runtime.js';
import { DRILL_MODULE, drillEchoFactory } from './drill-echo.js';

const config = loadConfig(process.env);
const fleetEnv = loadFleetEnv({ ...process.env, ROUTING_SOURCE: 'redis' });
const log = pino({ level: config.LOG_LEVEL, base: { svc: 'gateway', instance: fleetEnv.FLEET_INSTANCE_ID } });
const fleet = createFleetRuntime(config, fleetEnv, { log });
const factory = drillEchoFactory(fleet.instanceId);
const gateway = await createGateway({
  config,
  logger: log,
  modules: { [DRILL_MODULE]: async () => factory },
  ...(await fleet.gatewayOptions()),
});
await fleet.start(gateway);
process.stdout.write(`READY ${gateway.dataPort} ${gateway.adminPort}\n`);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  Promise.all([fleet.close(), gateway.close()]).then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
