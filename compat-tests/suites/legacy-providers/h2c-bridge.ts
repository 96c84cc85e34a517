/**
 * Recording aid (not part of the gateway): an HTTP/2 cleartext (prior knowledge) front for the
 * HTTP/1.1 compat mock upstream, so the legacy's Bedrock client can be recorded against it.
 *
 * The legacy's @aws-sdk/client-bedrock-runtime (3.883 at b565610a) sends every call through
 * NodeHttp2Handler, and the only way to point it somewhere else without touching its code is the
 * SDK's own AWS_ENDPOINT_URL_BEDROCK_RUNTIME. With `http://127.0.0.1:<this port>` there, the SDK
 * opens an h2c session here; each stream is forwarded as an HTTP/1.1 request (headers in the order
 * they arrived, `Host` from `:authority`) to the mock, whose answer streams back unchanged.
 *
 *   npx tsx compat-tests/suites/legacy-providers/h2c-bridge.ts --port 18083 --target http://127.0.0.1:18082
 */
import { request } from 'node:http';
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

function forward(target: URL, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
  const out: string[] = ['host', String(headers[':authority'] ?? target.host)];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.startsWith(':') || name === 'host' || HOP_BY_HOP.has(name)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  const upstream = request({ host: target.hostname, port: target.port, method: String(headers[':method']), path: String(headers[':path']), headers: out }, (res) => {
    const answer: Record<string, string | string[] | number> = { ':status': res.statusCode ?? 502 };
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) answer[k] = v;
    stream.respond(answer);
    res.pipe(stream);
  });
  upstream.on('error', (err) => {
    if (!stream.headersSent) stream.respond({ ':status': 502, 'content-type': 'text/plain' });
    stream.end(`h2c bridge: ${err.message}`);
  });
  stream.on('close', () => upstream.destroy());
  stream.pipe(upstream);
}

const port = Number(arg('port', '18083'));
const target = new URL(arg('target', 'http://127.0.0.1:18082'));
const server = createServer();
server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => forward(target, stream, headers, rawHeaders));
server.listen(port, '127.0.0.1', () => console.log(`h2c bridge on http://127.0.0.1:${port} -> ${target.origin}`));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => server.close(() => process.exit(0)));
