import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigratedModuleFactory } from '../../migrated/module.js';
import type { Gateway } from '../create.js';
import { startTestGateway } from '../testing/gateway.js';
import { startOrigin, type Origin } from '../testing/origin.js';

/**
 * A module's prefetch runs when the gateway routes a request to it, before anything of the serving path (the
 * relay starts its key lookup there): first from the data handler right after routing (before it adds the
 * X-Forwarded-* headers), again at the start of serve() (the module ignores the repeat), on the instance that
 * then serves the request; a prefetch that throws costs nothing but a log line.
 */

const events: string[] = [];
const prefetched = new WeakSet<IncomingMessage>();

const prefetching: MigratedModuleFactory = () => ({
  name: 'prefetching',
  prefetch(req) {
    if (req.url === '/p/throw') throw new Error('prefetch broke');
    if (prefetched.has(req)) {
      events.push(`prefetch again ${req.url}`);
      return;
    }
    prefetched.add(req);
    events.push(`prefetch ${req.url} forwarded=${req.headers['x-forwarded-for'] !== undefined}`);
  },
  async handle(req, res) {
    events.push(`handle ${req.url} prefetched=${prefetched.has(req)}`);
    res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', '2']).end('ok');
  },
});

describe('migrated module prefetch', () => {
  let origin: Origin;
  let gw: Gateway;

  beforeAll(async () => {
    origin = await startOrigin();
    gw = await startTestGateway(origin.url, {
      modules: { prefetching: async () => prefetching },
      table: { routes: [{ id: 'p', paths: ['/p/*'], mode: 'migrated', module: 'prefetching' }] },
    });
  });
  afterAll(async () => {
    await gw?.close();
    await origin?.close();
  });

  it('runs before handle on the same request once the module is built; a throwing prefetch still serves', async () => {
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${gw.dataPort}${path}`);
      return `${r.status} ${await r.text()}`;
    };
    expect(await get('/p/first')).toBe('200 ok'); // builds the module: nothing to prefetch with yet
    expect(await get('/p/second')).toBe('200 ok');
    expect(await get('/p/throw')).toBe('200 ok');
    expect(events).toEqual([
      'handle /p/first prefetched=false',
      'prefetch /p/second forwarded=false', // the data handler, right after routing
      'prefetch again /p/second', // serve()
      'handle /p/second prefetched=true',
      'handle /p/throw prefetched=false',
    ]);
  });
});
