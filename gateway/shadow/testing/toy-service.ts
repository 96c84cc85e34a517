import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { MigratedModuleFactory } from '../../../migrated/module.js';

/**
 * A toy relay used on both sides of the shadow tests: look the API key up in Redis, call the
 * upstream with the same body, stream the answer back, then record usage in Redis (after the
 * response, like the legacy). `variant` lets a test make the candidate differ in one way.
 */
export type ToyVariant = 'same' | 'byte' | 'hash' | 'missing' | 'crash' | 'slow' | 'other-upstream-path' | 'extra-header';

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export async function serveToy(redis: Redis, upstreamBase: string, req: IncomingMessage, res: ServerResponse, variant: ToyVariant, slowMs = 1500): Promise<void> {
  const body = await readBody(req);
  if (variant === 'crash') throw new Error('candidate crashed on purpose');
  if (variant === 'slow') await new Promise((r) => setTimeout(r, slowMs));
  const key = String(req.headers['x-api-key'] ?? '');
  const info = await redis.hgetall(`apikey:${key}`);
  if (!info.name) {
    const out = JSON.stringify({ error: 'Unauthorized', message: 'Invalid API key' });
    res.writeHead(401, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(Buffer.byteLength(out))]);
    res.end(out);
    return;
  }
  const model = (JSON.parse(body.toString('utf8')) as { model?: string }).model ?? 'unknown';
  const up = new URL(variant === 'other-upstream-path' ? '/v1/messages/count_tokens' : '/v1/messages', upstreamBase);
  await new Promise<void>((resolve, reject) => {
    const call = request(up, { method: 'POST', headers: { 'Content-Type': 'application/json', 'x-api-key': info.upstreamKey ?? '', 'Content-Length': String(body.length) } }, (upRes) => {
      const headers: string[] = ['Content-Type', String(upRes.headers['content-type'] ?? 'application/json'), 'X-Toy', 'yes'];
      if (variant === 'extra-header') headers.push('X-Fixed', '1');
      res.writeHead(upRes.statusCode ?? 502, headers);
      upRes.on('data', (chunk: Buffer) => {
        res.write(variant === 'byte' ? Buffer.from(chunk.toString('latin1').replace('Hello', 'Hellp'), 'latin1') : chunk);
      });
      upRes.on('end', () => {
        res.end();
        resolve();
      });
      upRes.on('error', reject);
    });
    call.on('error', reject);
    call.end(body);
  });
  // usage, after the response
  const m = redis.multi();
  m.hincrby(`usage:${key}`, 'requests', 1);
  m.hincrby(`usage:${key}`, 'tokens', variant === 'hash' ? 18 : 17);
  m.expire(`usage:${key}`, 86_400);
  m.hset(`apikey:${key}`, 'lastModel', model);
  if (variant !== 'missing') m.set(`last:${key}`, model, 'EX', 3600);
  await m.exec();
}

/** The "legacy" origin: a plain HTTP server running the toy with its own Redis client. */
export async function startToyOrigin(redis: Redis, upstreamBase: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    serveToy(redis, upstreamBase, req, res, 'same').catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The candidate as a migrated module; `variant()` is read per request. */
export function toyModuleFactory(variant: () => ToyVariant, fallbackUpstream: string): MigratedModuleFactory {
  return (deps) => ({
    name: 'toy',
    handle: (req, res) => serveToy(deps.redis, deps.upstreamOverride ?? fallbackUpstream, req, res, variant()),
  });
}
