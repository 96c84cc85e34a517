import type { IncomingMessage } from 'node:http';

/**
 * The headers the legacy's nginx front sets (proxy_set_header X-Real-IP $remote_addr;
 * X-Forwarded-For $proxy_add_x_forwarded_for; X-Forwarded-Proto $scheme).
 */
export function forwardedHeaders(req: IncomingMessage): Record<string, string> {
  const remote = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  const xff = prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${remote}` : remote;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  return {
    'x-real-ip': remote,
    'x-forwarded-for': xff,
    'x-forwarded-proto': encrypted ? 'https' : 'http',
  };
}
