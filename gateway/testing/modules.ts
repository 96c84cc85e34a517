import type { MigratedModuleFactory } from '../../migrated/module.js';

/** Small migrated modules for gateway tests (passed through `createGateway({ modules })`). */

/** SSE stream of `events` events every `ms` ms from the path /…/:events/:ms, marked "migrated". */
export const sseModule: MigratedModuleFactory = () => ({
  name: 'test-sse',
  async handle(req, res, ctx) {
    const parts = (req.url ?? '').split('?')[0]!.split('/');
    const events = Number(parts[parts.length - 2]);
    const every = Number(parts[parts.length - 1]);
    res.writeHead(200, ['Content-Type', 'text/event-stream', 'Cache-Control', 'no-cache']);
    for (let i = 1; i < events; i++) {
      if (ctx.signal.aborted) return;
      res.write(`data: {"n":${i},"side":"migrated"}\n\n`);
      await new Promise((r) => setTimeout(r, every));
    }
    res.end(`event: done\ndata: {"n":${events},"side":"migrated"}\n\n`);
  },
});

/** Echo: reads the body, answers JSON { side, method, url, params, length, body }. */
export const echoModule: MigratedModuleFactory = () => ({
  name: 'test-echo',
  async handle(req, res, ctx) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const out = JSON.stringify({ side: 'migrated', method: req.method, url: req.url, params: ctx.params, length: body.length, body: body.toString('latin1') });
    res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(out))]);
    res.end(out);
  },
});

/** Throws before writing anything. */
export const throwingModule: MigratedModuleFactory = () => ({
  name: 'test-throw',
  async handle() {
    throw new Error('boom');
  },
});
