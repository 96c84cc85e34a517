import { pino } from 'pino';
import { loadConfig } from '../config/env.js';
import { createGateway, type Gateway, type GatewayOptions } from '../create.js';

/** A gateway on ephemeral ports in front of `legacyUrl`, quiet logs unless GATEWAY_TEST_LOG is set. */
export function startTestGateway(
  legacyUrl: string,
  opts: Omit<GatewayOptions, 'config'> & { env?: Record<string, string> } = {},
): Promise<Gateway> {
  const { env, ...rest } = opts;
  const config = loadConfig({
    GATEWAY_PORT: '0',
    GATEWAY_ADMIN_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    LEGACY_URL: legacyUrl,
    LOG_LEVEL: process.env.GATEWAY_TEST_LOG ?? 'silent',
    GATEWAY_DRAIN_TIMEOUT_MS: '2000',
    ...env,
  });
  return createGateway({
    table: { routes: [] },
    logger: pino({ level: config.LOG_LEVEL }),
    ...rest,
    config,
  });
}
