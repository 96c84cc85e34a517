import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/**
 * The headers the legacy's nginx front sets (proxy_set_header X-Real-IP $remote_addr;
 * X-Forwarded-For $proxy_add_x_forwarded_for; X-Forwarded-Proto $scheme). The legacy bridge sends them for
 * a client that is not a trusted proxy (a trusted one's are passed as sent: see client-address.ts);
 * a migrated module gets the same request view (so it forwards what the legacy would forward upstream).
 */
export function forwardedValues(priorXff: string | string[] | undefined, clientIp: string, encrypted = false): Record<string, string> {
  const prior = Array.isArray(priorXff) ? priorXff.join(', ') : priorXff;
  return {
    'x-real-ip': clientIp,
    'x-forwarded-for': prior ? `${prior}, ${clientIp}` : clientIp,
    'x-forwarded-proto': encrypted ? 'https' : 'http',
  };
}

/** forwardedValues() written straight into a request's header object (same names, order and values, no extra object). */
export function setForwardedHeaders(headers: IncomingHttpHeaders, clientIp: string, encrypted = false): void {
  const prior = headers['x-forwarded-for'];
  const joined = Array.isArray(prior) ? prior.join(', ') : prior;
  headers['x-real-ip'] = clientIp;
  headers['x-forwarded-for'] = joined ? `${joined}, ${clientIp}` : clientIp;
  headers['x-forwarded-proto'] = encrypted ? 'https' : 'http';
}

/**
 * Give `req` the header view the legacy gets through the bridge: values replaced where the client sent the
 * header (first occurrence, later duplicates dropped), otherwise appended in lower case — the order of
 * `{ ...req.headers, ...forwarded }`, which is what the bridge sends.
 */
export function applyForwardedHeaders(req: IncomingMessage, clientIp: string, encrypted = false): void {
  const values = forwardedValues(req.headers['x-forwarded-for'], clientIp, encrypted);
  const raw = req.rawHeaders;
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    const value = values[lower];
    if (value === undefined) {
      out.push(raw[i]!, raw[i + 1]!);
      continue;
    }
    if (seen.has(lower)) continue;
    seen.add(lower);
    out.push(raw[i]!, value);
  }
  for (const [name, value] of Object.entries(values)) if (!seen.has(name)) out.push(name, value);
  raw.length = 0;
  raw.push(...out);
  Object.assign(req.headers, values);
}
