/**
 * Process-level switches of the legacy's HTTP surface that are not part of GatewayConfig:
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

export function httpSurfaceFromEnv(env: NodeJS.ProcessEnv = process.env): HttpSurfaceOptions {
  const enableCors = env.ENABLE_CORS;
  const mb = Number.parseInt(env.REQUEST_MAX_SIZE_MB ?? '60', 10);
  return {
    // The recorded legacy ran with ENABLE_CORS=true; only an explicit "false" selects the custom middleware.
    corsPackage: enableCors === undefined || enableCors === '' ? true : enableCors === 'true',
    development: env.NODE_ENV === 'development',
    requestMaxBytes: (Number.isNaN(mb) ? 60 : mb) * 1024 * 1024,
  };
}

export const defaultHttpSurface: HttpSurfaceOptions = {
  corsPackage: true,
  development: false,
  requestMaxBytes: 60 * 1024 * 1024,
};
