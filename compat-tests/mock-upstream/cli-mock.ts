import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { sharedDir } from '../../test-support/paths.js';
import { startMockUpstream } from './server.js';

/** `npm run compat -- mock [--port 18080] [--proxy-port 18443] [--cert-dir ../shared/lab/certs] [--delay 15]` */
export async function cmdMock(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: process.env['MOCK_PORT'] ?? '18080' },
      'proxy-port': { type: 'string', default: process.env['MOCK_PROXY_PORT'] ?? '' },
      'cert-dir': { type: 'string', default: process.env['MOCK_CERT_DIR'] ?? join(sharedDir, 'lab', 'certs') },
      delay: { type: 'string' },
    },
  });
  const mock = await startMockUpstream({
    port: Number(values.port),
    ...(values['proxy-port'] ? { proxyPort: Number(values['proxy-port']), certDir: values['cert-dir'] } : {}),
    ...(values.delay !== undefined ? { settings: { chunkDelayMs: Number(values.delay) } } : {}),
  });
  console.log(`[mock] http on ${mock.url}${mock.proxyUrl ? `, CONNECT/TLS proxy on ${mock.proxyUrl}` : ''}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await mock.close();
  return 0;
}
