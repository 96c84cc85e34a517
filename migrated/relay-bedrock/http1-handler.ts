import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/**
 * A minimal HTTP/1.1 request handler for the AWS SDK client (the smithy `HttpHandler` shape:
 * `handle(request, { abortSignal })` → `{ response: { statusCode, headers, body } }`).
 * The Bedrock runtime client of this SDK version defaults to HTTP/2; the legacy's SDK spoke
 * HTTP/1.1, and the compat mock upstream only speaks HTTP/1.1. Connections come from the relay's
 * keep-alive agent pool (migrated/upstream).
 */
interface SdkHttpRequest {
  protocol: string;
  hostname: string;
  port?: number | undefined;
  method: string;
  path: string;
  query?: Record<string, string | Array<string> | null> | undefined;
  headers: Record<string, string>;
  body?: unknown;
}

function queryString(q: SdkHttpRequest['query']): string {
  if (!q) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === null) parts.push(encodeURIComponent(k));
    else for (const one of Array.isArray(v) ? v : [v]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

function flatHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

export class Http1Handler {
  readonly metadata = { handlerProtocol: 'http/1.1' };

  constructor(private readonly agentFor: (protocol: 'http:' | 'https:') => Agent) {}

  handle(req: SdkHttpRequest, options: { abortSignal?: AbortSignal | { aborted: boolean } } = {}): Promise<{ response: { statusCode: number; reason?: string | undefined; headers: Record<string, string>; body: Readable } }> {
    const protocol = req.protocol === 'http:' ? 'http:' : 'https:';
    const signal = options.abortSignal as AbortSignal | undefined;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
        return;
      }
      const send = protocol === 'http:' ? httpRequest : httpsRequest;
      const r = send(
        {
          protocol,
          hostname: req.hostname,
          port: req.port,
          method: req.method,
          path: `${req.path}${queryString(req.query)}`,
          headers: req.headers,
          agent: this.agentFor(protocol),
        },
        (res) => resolve({ response: { statusCode: res.statusCode ?? 500, reason: res.statusMessage, headers: flatHeaders(res.headers), body: res } }),
      );
      const onAbort = () => r.destroy(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
      if (signal && typeof signal.addEventListener === 'function') {
        signal.addEventListener('abort', onAbort, { once: true });
        r.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      r.on('error', reject);
      const body = req.body;
      if (body === undefined || body === null) r.end();
      else if (typeof body === 'string' || body instanceof Uint8Array) r.end(body);
      else if (body instanceof Readable) body.pipe(r);
      else r.end(String(body));
    });
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {}
}
