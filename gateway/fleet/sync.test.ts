import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../migrated/storage/redis-client.js';
import { systemClock } from '../../migrated/runtime/clock.js';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import type { RoutingTable } from '../routing/schema.js';
import { validateTable } from '../routing/validate.js';
import { readFleet } from './instances.js';
import { FLEET_KEYS } from './keys.js';
import { publishTable, readHistory, readPublished, rollbackTable } from './published-table.js';
import { startFleetSync, type FleetSync, type TableApplier } from './sync.js';

const clock = systemClock(8);

const table = (mode: 'legacy' | 'migrated', version?: string) => ({
  ...(version ? { version } : {}),
  routes: [
    { id: 'models', methods: ['GET'], paths: ['/api/v1/models'], mode, module: 'models' },
    { id: 'unknown', paths: ['/*'], mode: 'legacy' },
  ],
});

/** A table naming a module only some instances have. */
const skewedTable = () => ({
  routes: [
    { id: 'models', methods: ['GET'], paths: ['/api/v1/models'], mode: 'migrated', module: 'relay' },
    { id: 'unknown', paths: ['/*'], mode: 'legacy' },
  ],
});

/** What the gateway's applyTable does: validate against its modules, keep the live table (the real gateway runs in nginx/drill). */
function recordingApplier(modules: string[]): TableApplier & { live: RoutingTable | null; applied: string[] } {
  const a = {
    live: null as RoutingTable | null,
    applied: [] as string[],
    applyTable(input: unknown, source: string) {
      const r = validateTable(input, { knownModules: modules });
      if (!r.ok) return { ok: false, error: r.errors.join('; ') };
      a.live = r.table;
      a.applied.push(`${r.table.version} from ${source}`);
      return { ok: true };
    },
  };
  return a;
}

async function until(what: string, cond: () => boolean, ms = 3_000): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now() - start;
}

describe('fleet routing table in Redis', () => {
  let server: PrivateRedis;
  let admin: Redis;
  let stopped = false;
  const syncs: FleetSync[] = [];
  const clients: Redis[] = [];
  const config = () => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: server.port, REDIS_PASSWORD: '', REDIS_DB: 0, REDIS_ENABLE_TLS: false });

  async function instance(id: string, modules: string[], applier = recordingApplier(modules)) {
    const redis = createRedisClient(config(), { commandTimeoutMs: 500, maxBackoffMs: 200 });
    const subscriber = createRedisClient(config(), { maxBackoffMs: 200 });
    const sync: FleetSync = await startFleetSync({ redis, subscriber, applier, clock, instanceId: id, pollMs: 200 });
    syncs.push(sync);
    clients.push(redis);
    return { sync, applier };
  }

  beforeAll(async () => {
    server = await startPrivateRedis();
    admin = createRedisClient(config());
    clients.push(admin);
  });
  afterAll(async () => {
    for (const s of syncs) await s.close();
    for (const c of clients) c.disconnect();
    if (!stopped) await server.stop(); // (stopping twice would wait forever for an exit already seen)
  });

  it('refuses an invalid table and writes nothing', async () => {
    const r = await publishTable(admin, { routes: [{ id: 'models', paths: ['/x'], mode: 'migrated', module: 'nope' }] }, { knownModules: ['models'], by: 't', now: clock.now() });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors[0]).toMatch(/route "models" field module: unknown migrated module "nope"/);
    expect(await admin.exists(FLEET_KEYS.table)).toBe(0);
    const bad = await publishTable(admin, '{"routes": [', { knownModules: [], by: 't', now: clock.now() });
    expect(!bad.ok && bad.errors[0]).toMatch(/invalid JSON/);
  });

  it('publishes with increasing revisions; every instance applies each one and reports it', async () => {
    const a = await instance('gw-a', ['models']);
    const b = await instance('gw-b', ['models']);
    expect(a.sync.status()).toMatchObject({ redis: 'ok', applied: null, inSync: true });

    for (const [i, mode] of (['migrated', 'legacy', 'migrated'] as const).entries()) {
      const published = await publishTable(admin, table(mode, `t${i}`), { knownModules: ['models'], by: 'test', now: clock.now() });
      expect(published.ok).toBe(true);
      const rev = published.ok ? published.revision : -1;
      expect(rev).toBe(i + 1);
      await until(`both on r${rev}`, () => a.sync.status().applied?.revision === rev && b.sync.status().applied?.revision === rev, 1_000);
      expect(a.applier.live?.routes[0]?.mode).toBe(mode);
      expect(b.applier.live?.version).toBe(`t${i}@r${rev}`);
      const fleet = await readFleet(admin, clock.now());
      expect(fleet.published?.revision).toBe(rev);
      expect(fleet.instances.map((x) => [x.instanceId, x.revision, x.state])).toEqual([
        ['gw-a', rev, 'in-sync'],
        ['gw-b', rev, 'in-sync'],
      ]);
      expect(fleet.converged).toBe(true);
    }
    expect(a.applier.applied).toEqual(['t0@r1 from redis r1', 't1@r2 from redis r2', 't2@r3 from redis r3']);

    // Compare-and-set: a stale expectation is refused.
    const stale = await publishTable(admin, table('legacy'), { knownModules: ['models'], by: 'test', now: clock.now(), expectRevision: 1 });
    expect(!stale.ok && stale.errors[0]).toMatch(/expected r1, the fleet is at r3/);

    // Roll back = republish the previous table as r4.
    const rolled = await rollbackTable(admin, { knownModules: ['models'], by: 'test', now: clock.now() });
    expect(rolled).toMatchObject({ ok: true, revision: 4, restoredRevision: 2 });
    await until('rollback applied', () => a.sync.status().applied?.revision === 4 && b.sync.status().applied?.revision === 4, 1_000);
    expect(a.applier.live?.routes[0]?.mode).toBe('legacy');
    expect((await readHistory(admin)).map((d) => d.revision)).toEqual([3, 2, 1]);
  });

  it('an instance that cannot validate a revision keeps its last good table and the fleet view shows it', async () => {
    const c = await instance('gw-c', ['models']); // no "relay" module on this one (version skew)
    await until('c on latest', () => c.sync.status().applied?.revision === 4);
    const r = await publishTable(admin, skewedTable(), { knownModules: ['models', 'relay'], by: 'test', now: clock.now() });
    expect(r.ok).toBe(true);
    await until('c reports the error', () => c.sync.status().lastError !== null);
    const status = c.sync.status();
    expect(status.applied?.revision).toBe(4);
    expect(status.inSync).toBe(false);
    expect(status.lastError?.message).toMatch(/unknown migrated module "relay"/);
    expect(c.applier.live?.routes[0]?.mode).toBe('legacy');
    const fleet = await readFleet(admin, clock.now());
    expect(fleet.converged).toBe(false);
    expect(fleet.instances.find((i) => i.instanceId === 'gw-c')).toMatchObject({ state: 'error', revision: 4 });
  });

  it('a damaged published document is reported and not applied', async () => {
    const f = await instance('gw-f', ['models', 'relay']);
    await until('f on r5', () => f.sync.status().applied?.revision === 5);
    // Someone edits the hash by hand: content no longer matches its sha256.
    await admin.hset(FLEET_KEYS.table, 'table', JSON.stringify(table('legacy', 'tampered')), 'revision', '6');
    await f.sync.refresh();
    const s = f.sync.status();
    expect(s.applied?.revision).toBe(5);
    expect(s.lastError?.message).toMatch(/r6: sha256 does not match its content/);
    expect(f.applier.live?.routes[0]?.module).toBe('relay');
    // A proper publish repairs it.
    const r = await publishTable(admin, skewedTable(), { knownModules: ['models', 'relay'], by: 'test', now: clock.now() });
    expect(r.ok && r.revision).toBe(7);
    await until('f on r7', () => f.sync.status().applied?.revision === 7 && f.sync.status().lastError === null);
  });

  it('keeps the last good table while Redis is down, says so, and catches up when it returns', async () => {
    const d = await instance('gw-d', ['models', 'relay']);
    await until('d on r7', () => d.sync.status().applied?.revision === 7);
    await server.restart(); // empty: nothing persisted
    await until('d sees redis gone', () => d.sync.status().redis !== 'ok' || d.sync.status().publishedRevision === 0, 3_000);
    // Either it noticed the outage or already reconnected to the empty server: it still runs r7.
    expect(d.sync.status().applied?.revision).toBe(7);
    expect(d.applier.live?.routes[0]?.module).toBe('relay');
    await until('d reconnected', () => d.sync.status().redis === 'ok', 5_000);
    const again = createRedisClient(config());
    clients.push(again);
    const r = await publishTable(again, table('migrated', 'after-restart'), { knownModules: ['models'], by: 'test', now: clock.now() });
    expect(r.ok && r.revision).toBe(1);
    await until('d on the new r1', () => d.sync.status().applied?.version === 'after-restart@r1', 3_000);
    expect((await readPublished(again))?.tableVersion).toBe('after-restart');
  });

  it('reports unreachable Redis in its status', async () => {
    const e = await instance('gw-e', ['models']);
    await until('e applied', () => e.sync.status().applied !== null);
    await server.stop();
    stopped = true;
    await until('e unreachable', () => e.sync.status().redis === 'unreachable', 3_000);
    expect(e.sync.status()).toMatchObject({ redis: 'unreachable', inSync: false, applied: { version: 'after-restart@r1' } });
  });
});
