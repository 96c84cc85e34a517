import { loadConfig, type GatewayConfig } from '../../gateway/config/env.js';

/**
 * Process-level switches of the legacy's HTTP surface (from GatewayConfig):
 * which CORS middleware the legacy ran (ENABLE_CORS), whether error bodies carry debug
 * details (NODE_ENV=development), the request pre-check limit (REQUEST_MAX_SIZE_MB).
 * Read once per module factory, never per request.
 */
export interface HttpSurfaceOptions {
  /** true: the `cors` package (the `.env.example` value, every recorded exchange); false: the legacy's own corsMiddleware. */
  corsPackage: boolean;
  /** NODE_ENV === 'development': the global error handler exposes error.message and stack. */
  development: boolean;
  /** REQUEST_MAX_SIZE_MB × 1 MiB: Content-Length above this is refused with 413 before anything else. */
  requestMaxBytes: number;
}

/** From the gateway's config (ENABLE_CORS, NODE_ENV, REQUEST_MAX_SIZE_MB: gateway/config/env.ts). */
export function httpSurfaceFromConfig(config: Pick<GatewayConfig, 'ENABLE_CORS' | 'NODE_ENV' | 'REQUEST_MAX_SIZE_MB'>): HttpSurfaceOptions {
  const enableCors = config.ENABLE_CORS;
  return {
    // The recorded legacy ran with ENABLE_CORS=true; only an explicit "false" selects the custom middleware.
    corsPackage: enableCors === undefined || enableCors === '' ? true : enableCors === 'true',
    development: config.NODE_ENV === 'development',
    requestMaxBytes: config.REQUEST_MAX_SIZE_MB * 1024 * 1024,
  };
}

/**
 * Same, from an environment (parsed with the config schema). Kept for callers that have no
 * config at hand; modules should use httpSurfaceFromConfig(deps.config).
 */
export function httpSurfaceFromEnv(env: NodeJS.ProcessEnv = process.env): HttpSurfaceOptions {
  return httpSurfaceFromConfig(loadConfig({ ENABLE_CORS: env.ENABLE_CORS, NODE_ENV: env.NODE_ENV, REQUEST_MAX_SIZE_MB: env.REQUEST_MAX_SIZE_MB } as NodeJS.ProcessEnv));
}

export const defaultHttpSurface: HttpSurfaceOptions = {
  corsPackage: true,
  development: false,
  requestMaxBytes: 60 * 1024 * 1024,
};
