import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderList } from './header-list.js';
import { envelopeHeaders, requestFactsOf } from './legacy-headers.js';
import type { HttpSurfaceOptions } from './legacy-surface.js';

/**
 * Every OPTIONS request ends in the legacy's CORS stage with 204, before the size check, the
 * request id and any route (responses-and-errors.md §3; checked against the running legacy):
 * - `cors()` (ENABLE_CORS=true): helmet, `Access-Control-Allow-Origin: *`,
 *   `Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE`, `Vary: Access-Control-Request-Headers`,
 *   the echoed `Access-Control-Allow-Headers` when requested, `Content-Length: 0`;
 * - the custom corsMiddleware: helmet + its CORS set, 204 with no body headers.
 */
export function sendPreflight(req: IncomingMessage, res: ServerResponse, surface: HttpSurfaceOptions): void {
  const list: HeaderList = envelopeHeaders(requestFactsOf(req), surface, 'before-logger');
  if (surface.corsPackage) {
    list.set('Access-Control-Allow-Methods', 'GET,HEAD,PUT,PATCH,POST,DELETE');
    list.set('Vary', 'Access-Control-Request-Headers');
    const requested = req.headers['access-control-request-headers'];
    if (requested) list.set('Access-Control-Allow-Headers', requested);
    list.set('Content-Length', '0');
  }
  res.writeHead(204, list.toFlat());
  res.end();
}
