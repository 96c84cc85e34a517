import type { RoutingTable } from '../../routing/schema.js';
import { nginxOptions, type NginxOptions, type NginxOptionsInput } from './options.js';
import { planSplit, type SplitPlan } from './split-map.js';

/**
 * The two nginx configurations, as http-level files (drop into /etc/nginx/conf.d/):
 * - sidecar: nginx -> gateway -> legacy. Every request goes to the gateway, which applies the routing table;
 *   when no gateway answers, nginx falls back to the legacy directly (it can still serve every route).
 * - split: nginx sends the paths of `legacy` routes straight to the legacy and everything else to the gateway,
 *   generated from routing-table.json so the two never disagree (`npm run routes -- nginx --mode split`).
 *
 * Both carry what the legacy's traffic needs: no response buffering (SSE), 600 s read timeout, HTTP/1.1
 * keep-alive pools, X-Real-IP / X-Forwarded-For / X-Forwarded-Proto, underscores in header names (the legacy's
 * README asks for it: Codex CLI's `session_id`), the legacy's 60 MB request limit with its JSON 413 body.
 */

/** The legacy's answer to a Content-Length above REQUEST_MAX_SIZE_MB (middleware/auth.js requestSizeLimit). */
export const LEGACY_413_BODY = '{"error":"Payload Too Large","message":"Request body size exceeds limit","limit":"10MB"}';

const GATEWAY_UPSTREAM = 'crs_gateway';
const LEGACY_UPSTREAM = 'crs_legacy';
const ADMIN_UPSTREAM = 'crs_gateway_admin';

function indent(lines: string[], depth: number): string[] {
  const pad = '    '.repeat(depth);
  return lines.map((l) => (l ? pad + l : l));
}

function upstreams(o: NginxOptions, withLegacy: boolean): string[] {
  const fail = `max_fails=${o.maxFails} fail_timeout=${o.failTimeoutSeconds}s`;
  const out = [
    `upstream ${GATEWAY_UPSTREAM} {`,
    '    # Long SSE streams: send new requests to the instance with the fewest open ones.',
    '    least_conn;',
    ...o.gateways.map((g) => `    server ${g} ${fail};`),
    ...(o.legacyBackup
      ? ['    # Every gateway down: the legacy serves directly (it still implements every route).', ...o.legacy.map((l) => `    server ${l} backup;`)]
      : []),
    `    keepalive ${o.keepalive};`,
    "    # Below Node's 5 s server keep-alive, so nginx never reuses a socket the gateway is closing.",
    '    keepalive_timeout 4s;',
    '}',
  ];
  if (withLegacy) {
    out.push(
      '',
      `upstream ${LEGACY_UPSTREAM} {`,
      '    least_conn;',
      ...o.legacy.map((l) => `    server ${l} ${fail};`),
      `    keepalive ${o.keepalive};`,
      "    # The legacy's server keep-alive is 605 s.",
      '    keepalive_timeout 60s;',
      '}',
    );
  }
  if (o.statusListen) {
    out.push('', `upstream ${ADMIN_UPSTREAM} {`, `    server ${o.gatewayAdmin};`, '}');
  }
  return out;
}

function proxySettings(o: NginxOptions): string[] {
  return [
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header Host $http_host;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    '# SSE: pass every chunk on as it arrives.',
    'proxy_buffering off;',
    'gzip off;',
    `proxy_read_timeout ${o.readTimeoutSeconds}s;`,
    `proxy_send_timeout ${o.readTimeoutSeconds}s;`,
    'proxy_connect_timeout 5s;',
    '# Connection refused/reset before the request was sent: try the next instance (POSTs are never re-sent).',
    'proxy_next_upstream error timeout;',
    'proxy_next_upstream_timeout 10s;',
    ...(o.exposeUpstream ? ['add_header X-Crs-Upstream $upstream_addr always;'] : []),
  ];
}

function serverHead(o: NginxOptions): string[] {
  return [
    ...o.listen.map((l) => `listen ${l};`),
    `server_name ${o.serverName};`,
    '# Header names with "_" (session_id) carry sticky sessions.',
    'underscores_in_headers on;',
    `client_max_body_size ${o.clientMaxBodySize};`,
    'client_body_buffer_size 1m;',
    "# Node's default header limit is 16 KB.",
    'large_client_header_buffers 4 16k;',
    ...o.serverIncludes.map((f) => `include ${f};`),
    'error_page 413 = @crs_payload_too_large;',
    '',
    'location @crs_payload_too_large {',
    '    default_type "application/json; charset=utf-8";',
    `    return 413 '${LEGACY_413_BODY}';`,
    '}',
  ];
}

function statusServer(o: NginxOptions): string[] {
  if (!o.statusListen) return [];
  return [
    '',
    '# Local status: nginx connection counters and the gateway health (admin port). Not public.',
    'server {',
    `    listen ${o.statusListen};`,
    '    access_log off;',
    '    location = /nginx_status {',
    '        stub_status;',
    '    }',
    '    location = /gateway/health {',
    `        proxy_pass http://${ADMIN_UPSTREAM}/gateway/health;`,
    '        proxy_connect_timeout 2s;',
    '        proxy_read_timeout 5s;',
    '    }',
    '    location / {',
    '        return 404;',
    '    }',
    '}',
  ];
}

export function renderSidecar(input: NginxOptionsInput = {}): string {
  const o = nginxOptions(input);
  return [
    '# claude-relay-service strangler gateway: SIDECAR (nginx -> gateway -> legacy).',
    '# Generated by `npm run routes -- nginx --mode sidecar`; static: the gateway applies the routing table.',
    '',
    ...upstreams(o, false),
    '',
    'server {',
    ...indent(serverHead(o), 1),
    '',
    '    location / {',
    `        proxy_pass http://${GATEWAY_UPSTREAM};`,
    ...indent(proxySettings(o), 2),
    '    }',
    '}',
    ...statusServer(o),
    '',
  ].join('\n');
}

export interface SplitRender {
  text: string;
  plan: SplitPlan;
}

export function renderSplit(table: RoutingTable, input: NginxOptionsInput = {}, tableVersion?: string): SplitRender {
  const o = nginxOptions(input);
  const plan = planSplit(table);
  const upstreamOf = (t: 'legacy' | 'gateway') => (t === 'legacy' ? LEGACY_UPSTREAM : GATEWAY_UPSTREAM);
  const width = Math.max(0, ...plan.entries.map((e) => e.regex.length)) + 3;
  const mapLines = plan.entries.map((e) => {
    const key = `"~*${e.regex}"`;
    return `    ${key.padEnd(width)} ${upstreamOf(e.target)};  # ${e.routeId} ${e.pattern}: ${e.reason}`;
  });
  const legacyCount = plan.entries.filter((e) => e.target === 'legacy').length;
  const text = [
    '# claude-relay-service strangler gateway: SPLIT (nginx sends legacy-mode paths straight to the legacy).',
    `# Generated from the routing table${tableVersion ? ` (version ${tableVersion})` : ''} by \`npm run routes -- nginx --mode split\`.`,
    '# Do not edit by hand: regenerate after every change of the table, then `nginx -t && nginx -s reload`.',
    `# ${plan.entries.length} patterns: ${legacyCount} straight to the legacy, ${plan.entries.length - legacyCount} to the gateway.`,
    '',
    ...upstreams(o, true),
    '',
    '# Raw request URI (case-insensitive, first match wins, same precedence as the gateway matcher).',
    'map $request_uri $crs_backend {',
    `    default ${upstreamOf(plan.fallback)};`,
    ...mapLines,
    '}',
    '',
    'server {',
    ...indent(serverHead(o), 1),
    '',
    '    location / {',
    '        proxy_pass http://$crs_backend;',
    ...indent(proxySettings(o), 2),
    ...(o.exposeUpstream ? ['        add_header X-Crs-Backend $crs_backend always;'] : []),
    '    }',
    '}',
    ...statusServer(o),
    '',
  ].join('\n');
  return { text, plan };
}
