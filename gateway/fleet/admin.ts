import type { Context, Hono } from 'hono';
import type { Redis } from 'ioredis';
import { readFleet, type FleetView } from './instances.js';
import type { FleetStatus } from './sync.js';

/**
 * The fleet on the admin port (an `adminExtensions` entry of createGateway):
 * - `GET /gateway/fleet`: this instance's sync state and every instance's heartbeat;
 * - adds `fleet` to `GET /gateway/health` (this instance: Redis reachable? running the latest revision?
 *   serving its last good table?) and to `GET /gateway/routes` (the revision each instance runs);
 * - `POST /gateway/reload` re-reads the published table from Redis instead of the file.
 */

export interface FleetAdminDeps {
  status: () => FleetStatus | null;
  refresh: () => Promise<void>;
  redis: Redis;
  now: () => number;
  silentAfterMs: number;
}

async function fleetView(d: FleetAdminDeps): Promise<FleetView | { error: string }> {
  try {
    return await Promise.race([
      readFleet(d.redis, d.now(), d.silentAfterMs),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('redis did not answer within 1000 ms')), 1000).unref()),
    ]);
  } catch (err) {
    return { error: `fleet view unavailable: ${(err as Error).message}` };
  }
}

/** One line an operator can act on. */
export function describeSelf(s: FleetStatus | null): { state: string; detail: string } {
  if (!s) return { state: 'starting', detail: 'fleet sync not started yet' };
  const running = s.applied ? `runs ${s.applied.version}` : 'runs the table from its file (nothing applied from Redis yet)';
  if (s.redis === 'connecting') return { state: 'connecting', detail: `${running}; first check of Redis in progress` };
  if (s.redis !== 'ok') return { state: 'redis-unreachable', detail: `${running}; keeps serving it (last good table) until Redis answers` };
  if (s.lastError) return { state: 'rejected', detail: `${running}; r${s.lastError.revision ?? '?'} rejected: ${s.lastError.message}` };
  if (!s.inSync) return { state: 'behind', detail: `${running}; r${s.publishedRevision} published` };
  return { state: 'in-sync', detail: s.publishedRevision ? running : `${running}; nothing published yet` };
}

async function addToJson(c: Context, extra: Record<string, unknown>): Promise<void> {
  const type = c.res.headers.get('content-type') ?? '';
  if (!type.includes('application/json')) return;
  const body = (await c.res.clone().json()) as Record<string, unknown>;
  c.res = c.json({ ...body, ...extra }, c.res.status as 200);
}

/** Prometheus text of this instance's fleet state (appended to /gateway/metrics). */
export function fleetMetrics(s: FleetStatus | null): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name} ${value}`);
  const counter = (name: string, help: string, value: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
  gauge('gateway_fleet_redis_up', 'Redis (the published table) answered the last check: 1, else 0', s?.redis === 'ok' ? 1 : 0);
  gauge('gateway_fleet_published_revision', 'Latest routing-table revision seen in Redis (0: none published)', s?.publishedRevision ?? 0);
  gauge('gateway_fleet_applied_revision', 'Revision this instance serves (0: still the table file)', s?.applied?.revision ?? 0);
  gauge('gateway_fleet_in_sync', 'This instance serves the latest published revision and Redis answers: 1, else 0', s?.inSync ? 1 : 0);
  gauge(
    'gateway_fleet_apply_lag_seconds',
    'Publish to apply time of the revision this instance serves',
    s?.applied ? Math.max(0, s.applied.appliedAt - s.applied.publishedAt) / 1000 : 0,
  );
  counter('gateway_fleet_applies_total', 'Published revisions applied since start', s?.applies ?? 0);
  counter('gateway_fleet_rejects_total', 'Published revisions rejected since start (the last good table kept serving)', s?.rejects ?? 0);
  return `${lines.join('\n')}\n`;
}

export function fleetAdminExtension(d: FleetAdminDeps): (app: Hono) => void {
  return (app) => {
    app.use('/gateway/metrics', async (c, next) => {
      await next();
      if (c.res.status !== 200) return;
      const base = await c.res.text();
      c.res = new Response(`${base.replace(/\n?$/, '\n')}${fleetMetrics(d.status())}`, { status: 200, headers: c.res.headers });
    });

    app.get('/gateway/fleet', async (c) => c.json({ self: { ...d.status(), ...describeSelf(d.status()) }, fleet: await fleetView(d) }));

    app.use('/gateway/health', async (c, next) => {
      await next();
      const s = d.status();
      await addToJson(c, {
        fleet: {
          ...describeSelf(s),
          instanceId: s?.instanceId ?? null,
          redis: s?.redis ?? 'connecting',
          lastContactAt: s?.lastContactAt ? new Date(s.lastContactAt).toISOString() : null,
          runningRevision: s?.applied?.revision ?? null,
          publishedRevision: s?.publishedRevision ?? null,
          servingLastGoodTable: !!s && (s.redis !== 'ok' || s.lastError !== null),
        },
      });
    });

    app.use('/gateway/routes', async (c, next) => {
      await next();
      const view = await fleetView(d);
      await addToJson(c, { fleet: { self: { ...d.status(), ...describeSelf(d.status()) }, ...view } });
    });

    app.post('/gateway/reload', async (c) => {
      await d.refresh();
      const s = d.status();
      const ok = !!s && s.redis === 'ok' && s.lastError === null;
      return c.json({ ok, source: 'redis', ...describeSelf(s), status: s }, ok ? 200 : 422);
    });
  };
}
