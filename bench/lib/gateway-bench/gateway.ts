/** The gateway under test for bench/sections/10-gateway.ts, as its own process (request log on, written synchronously like main.ts's stdout, to /dev/null). */
import { pino } from 'pino';
import { exitWithParent } from '../child.js';
import { loadConfig } from '../../../gateway/config/env.js';
import { createGateway } from '../../../gateway/create.js';

const config = loadConfig({ GATEWAY_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_HOST: '127.0.0.1', LEGACY_URL: process.env.LEGACY_URL! });
const gw = await createGateway({
  config,
  table: { routes: [{ id: 'bench', paths: ['/*'], mode: 'legacy' }] },
  logger: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true })),
});
console.log(JSON.stringify({ port: gw.dataPort }));
process.on('SIGTERM', () => void gw.close().then(() => process.exit(0)));
exitWithParent();
