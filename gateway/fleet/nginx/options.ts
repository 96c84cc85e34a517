import * as v from 'valibot';

/**
 * Deployment parameters of the generated nginx configs (sidecar and split). Defaults fit one server
 * running the legacy on :3000 and the gateway on :8080 (admin :8081), nginx on :80.
 */

const hostPort = v.pipe(
  v.string(),
  v.regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$/, 'must be host:port, e.g. 127.0.0.1:8080'),
);
const listen = v.pipe(
  v.string(),
  v.regex(
    /^(?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):)?[0-9]{1,5}(?: (?:ssl|http2|default_server|reuseport|proxy_protocol))*$/,
    'must be port or host:port with optional flags, e.g. 80, 127.0.0.1:8088 or "443 ssl http2"',
  ),
);
const size = v.pipe(v.string(), v.regex(/^[0-9]+[kmg]?$/, 'must be an nginx size, e.g. 60m'));

export const NginxOptionsSchema = v.strictObject({
  /** `listen` values of the public server block. */
  listen: v.optional(v.pipe(v.array(listen), v.minLength(1)), ['80']),
  serverName: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9._*~-]+$/, 'must be an nginx server_name')), '_'),
  /** Gateway data ports (one per instance on this server, or the whole fleet). */
  gateways: v.optional(v.pipe(v.array(hostPort), v.minLength(1)), ['127.0.0.1:8080']),
  /** Legacy instances. */
  legacy: v.optional(v.pipe(v.array(hostPort), v.minLength(1)), ['127.0.0.1:3000']),
  /** When every gateway is down, nginx sends their traffic to the legacy (which can still serve every route). */
  legacyBackup: v.optional(v.boolean(), true),
  /** A local status server: nginx stub_status and the gateway's /gateway/health. null = none. */
  statusListen: v.optional(v.nullable(listen), '127.0.0.1:8089'),
  /** Gateway admin port (health) behind the status server. */
  gatewayAdmin: v.optional(hostPort, '127.0.0.1:8081'),
  /** The legacy's own limit: REQUEST_MAX_SIZE_MB (default 60) checked on Content-Length. */
  clientMaxBodySize: v.optional(size, '60m'),
  /** The legacy's server timeout is 600 s; streams may stay silent that long. */
  readTimeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 600),
  /** Idle keep-alive connections per upstream pool per nginx worker. */
  keepalive: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 64),
  /** Passive health check: failures within failTimeout before an instance is skipped for failTimeout. */
  maxFails: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 1),
  failTimeoutSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 3),
  /** Files included inside the public server block (TLS certificates, extra headers, access rules...). */
  serverIncludes: v.optional(v.array(v.pipe(v.string(), v.regex(/^[^\s;{}'"]+$/, 'must be a file path without spaces or ; { } quotes'))), []),
  /** Debug/drill only: add `X-Crs-Upstream: <address that served>` to responses. Off in production (byte compatibility). */
  exposeUpstream: v.optional(v.boolean(), false),
});

export type NginxOptionsInput = v.InferInput<typeof NginxOptionsSchema>;
export type NginxOptions = v.InferOutput<typeof NginxOptionsSchema>;

export function nginxOptions(input: NginxOptionsInput = {}): NginxOptions {
  const r = v.safeParse(NginxOptionsSchema, input);
  if (r.success) return r.output;
  const issue = r.issues[0]!;
  const where = issue.path?.map((p) => String(p.key)).join('.') ?? 'options';
  throw new Error(`nginx option ${where}: ${issue.message}`);
}
