import { request } from 'node:http';
import { Hono } from 'hono';
import type { Redis } from 'ioredis';
import type { MetricsRegistry } from '../observability/metrics.js';
import type { ApplyResult, LiveTable } from '../routing/live-table.js';

/**
 * The admin API (admin port only, bound to 127.0.0.1 by default, never on the data port):
 * GET /gateway/health, GET /gateway/routes, GET /gateway/metrics, POST /gateway/reload.
 * Extensions (shadow reports, fleet info) mount their own paths on the same app.
 */

export interface AdminDeps {
  live: LiveTable;
  registry: MetricsRegistry;
  legacyUrl: string;
  reload: () => Promise<ApplyResult>;
  redis: () => Redis | null;
  startedAt: number;
  now: () => number;
  extensions?: Array<(app: Hono) => void>;
  /** Turns this process's exposition into the one to serve (cluster: all workers merged). */
  collectMetrics?: ((local: string) => Promise<string>) | undefined;
}

/** GET <legacy>/health with a short deadline: any HTTP answer means reachable. */
export function probeLegacy(legacyUrl: string, timeoutMs = 1000): Promise<{ reachable: boolean; status?: number; latencyMs: number; error?: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = request(new URL('/health', legacyUrl), { method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve({ reachable: true, status: res.statusCode ?? 0, latencyMs: Math.round(performance.now() - started) });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ reachable: false, latencyMs: Math.round(performance.now() - started), error: err.message }));
    req.end();
  });
}

export function createAdminApp(d: AdminDeps): Hono {
  const app = new Hono();
  // Extensions first, so their middleware can wrap the built-in endpoints (the fleet adds its state to
  // /gateway/health and /gateway/routes); their own paths do not collide with the built-in ones.
  for (const extend of d.extensions ?? []) extend(app);

  app.get('/gateway/health', async (c) => {
    const legacy = await probeLegacy(d.legacyUrl);
    const redisClient = d.redis();
    let redis: Record<string, unknown> = { status: 'unused' };
    if (redisClient) {
      const t = performance.now();
      try {
        await Promise.race([
          redisClient.ping(),
          new Promise((_, reject) => setTimeout(() => reject(new Error('ping timeout')), 1000).unref()),
        ]);
        redis = { status: 'healthy', latencyMs: Math.round(performance.now() - t) };
      } catch (err) {
        redis = { status: 'unhealthy', error: (err as Error).message };
      }
    }
    const table = d.live.describe();
    const ok = legacy.reachable && redis.status !== 'unhealthy';
    return c.json(
      {
        status: ok ? 'healthy' : 'degraded',
        uptimeSeconds: Math.round((d.now() - d.startedAt) / 1000),
        pid: process.pid,
        legacy: { url: d.legacyUrl, ...legacy },
        redis,
        routingTable: { version: table.version, lastError: table.lastError },
      },
      ok ? 200 : 503,
    );
  });

  app.get('/gateway/routes', (c) => {
    const status = d.live.describe();
    const table = d.live.current.table;
    return c.json({ ...status, defaultMode: table.defaultMode, routes: table.routes });
  });

  app.get('/gateway/metrics', async (c) => {
    const local = d.registry.render();
    const text = d.collectMetrics ? await d.collectMetrics(local) : local;
    return c.body(text, 200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
  });

  app.post('/gateway/reload', async (c) => {
    const result = await d.reload();
    return c.json(result, result.ok ? 200 : 422);
  });

  return app;
}
