import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { frozenClock } from '../runtime/clock.js';
import { API_KEY_UPSERT_SPACING_MS, PgStore } from './store.js';
import { countApiKeyUpserts, holdRowLock } from './row-lock.test-helper.js';

/**
 * api_keys upserts are coalesced per key: one statement per key in flight, later upserts replace the
 * pending data, the last call's data is what the row ends with. Statements are counted by a trigger
 * (one row-level AFTER INSERT OR UPDATE fires once per upsert statement) in the private schema.
 */
const clock = frozenClock(Date.parse('2026-11-26T16:00:00.000Z'), 8);
const warnings: Array<Record<string, unknown>> = [];
const log = { warn: (o: unknown) => void warnings.push(o as Record<string, unknown>) };
const keyA = '0b5e2c1f-7d3a-4c8e-9a41-2f6d8b1c3e77';
const keyB = '7c0d4b2e-1a9f-4e3b-8c6d-5f2a1b0e9d44';
const hashed = (c: string) => c.repeat(64);
const snapshot = (id: string, i: number) => ({ id, name: 'k', apiKey: hashed('a'), createdAt: '2026-01-02T03:04:05.000Z', lastUsedAt: new Date(Date.UTC(2026, 10, 26, 16, 0, i)).toISOString(), n: String(i) });

let pg: PrivateSchema;
let store: PgStore;
let statements: (id: string) => Promise<number>;
beforeAll(async () => {
  pg = await privateSchema('gwcoal');
  store = new PgStore(pg.sql, clock, log, { timeoutMs: 20_000 });
  expect(await store.ensureSchema()).toBe(true);
  statements = await countApiKeyUpserts(pg.sql);
});
afterAll(async () => {
  await store?.flush();
  await pg.drop();
});
beforeEach(async () => {
  warnings.length = 0;
  await pg.sql.unsafe('delete from api_keys');
  await pg.sql.unsafe('delete from upserts');
});

const rowData = async (id: string) => (await pg.sql.unsafe<Array<{ data: Record<string, string> }>>('select data from api_keys where id = $1', [id]))[0]?.data;

describe('PgStore api_keys upsert coalescing', () => {
  it('a busy key: its next statement starts at least API_KEY_UPSERT_SPACING_MS after the previous one; a quiet key is written at once', async () => {
    const t0 = performance.now();
    await store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 1));
    const quiet = performance.now() - t0;
    expect(quiet).toBeLessThan(API_KEY_UPSERT_SPACING_MS);
    const before = await statements(keyA);
    const t1 = performance.now();
    const first = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 2)); // waits for nothing: the previous one has finished
    const rest = [3, 4, 5].map((i) => store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, i)));
    await first;
    await Promise.all(rest);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(API_KEY_UPSERT_SPACING_MS - 1);
    expect((await statements(keyA)) - before).toBe(2);
    expect((await rowData(keyA))?.['n']).toBe('5');
  });

  it('50 concurrent upserts of one key: the last data wins, 2 statements ran', async () => {
    const before = { ...store.apiKeyWriteStats };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, i))));
    expect(results.every(Boolean)).toBe(true);
    expect(await rowData(keyA)).toEqual(snapshot(keyA, 49));
    expect(await statements(keyA)).toBe(2);
    expect(store.apiKeyWriteStats.submitted - before.submitted).toBe(50);
    expect(store.apiKeyWriteStats.sent - before.sent).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('upserts made while the first is blocked collapse into one, sent after it; every caller resolves only then', async () => {
    expect(await store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 0))).toBe(true);
    const lock = await holdRowLock(pg.sql, 'api_keys', keyA);
    const settled: number[] = [];
    const first = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 1)).then(() => settled.push(1));
    await lock.waiterSeen();
    const later = Array.from({ length: 20 }, (_, i) => store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 2 + i)).then(() => settled.push(2 + i)));
    expect(settled).toEqual([]);
    await lock.release();
    await Promise.all([first, ...later]);
    expect(settled[0]).toBe(1);
    expect(settled).toHaveLength(21);
    expect(await rowData(keyA)).toEqual(snapshot(keyA, 21));
    // the initial insert, the blocked one, one for the 20 coalesced
    expect(await statements(keyA)).toBe(3);
  });

  it('two keys do not wait for each other', async () => {
    expect(await store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 0))).toBe(true);
    const lock = await holdRowLock(pg.sql, 'api_keys', keyA);
    let aDone = false;
    const a = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 1)).then((ok) => {
      aDone = true;
      return ok;
    });
    await lock.waiterSeen();
    // key B is written while key A's statement is still blocked
    expect(await store.upsertApiKey(keyB, hashed('b'), { ...snapshot(keyB, 5), apiKey: hashed('b') })).toBe(true);
    expect(await rowData(keyB)).toEqual({ ...snapshot(keyB, 5), apiKey: hashed('b') });
    expect(aDone).toBe(false);
    await lock.release();
    expect(await a).toBe(true);
    expect(await rowData(keyA)).toEqual(snapshot(keyA, 1));
  });

  it('a failing upsert is logged and does not block the next one of the key', async () => {
    // not a uuid: the statement fails in the server
    const bad = store.upsertApiKey('not-a-uuid', hashed('a'), snapshot(keyA, 1));
    const good = store.upsertApiKey('not-a-uuid', hashed('a'), snapshot(keyA, 2));
    expect(await bad).toBe(false);
    expect(await good).toBe(false);
    expect(warnings.filter((w) => w['what'] === 'upsertApiKey')).toHaveLength(2);
    // a statement failing in flight (hashed_key too long for char(64)), then a good one queued behind it
    warnings.length = 0;
    const failing = store.upsertApiKey(keyA, 'x'.repeat(65), snapshot(keyA, 3));
    const next = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 4));
    expect(await failing).toBe(false);
    expect(await next).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ what: 'upsertApiKey' });
    expect(await rowData(keyA)).toEqual(snapshot(keyA, 4));
  });

  it('flush() waits for the in-flight and the pending upsert of every key (shutdown before sql.end())', async () => {
    const own = new PgStore(pg.sql, clock, log, { timeoutMs: 20_000 });
    expect(await own.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 0))).toBe(true);
    const lock = await holdRowLock(pg.sql, 'api_keys', keyA);
    void own.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 1));
    await lock.waiterSeen();
    void own.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 7));
    void own.upsertApiKey(keyB, hashed('b'), { ...snapshot(keyB, 8), apiKey: hashed('b') });
    let flushed = false;
    const flushing = own.flush().then(() => (flushed = true));
    expect(await rowData(keyB)).toBeDefined();
    expect(flushed).toBe(false);
    await lock.release();
    await flushing;
    expect(await rowData(keyA)).toEqual(snapshot(keyA, 7));
    expect(await rowData(keyB)).toEqual({ ...snapshot(keyB, 8), apiKey: hashed('b') });
  });

  it('a delete waits for the key pending upsert instead of being overtaken by it', async () => {
    expect(await store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 0))).toBe(true);
    const lock = await holdRowLock(pg.sql, 'api_keys', keyA);
    const up = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 1));
    await lock.waiterSeen();
    const pending = store.upsertApiKey(keyA, hashed('a'), snapshot(keyA, 2));
    const del = store.deleteApiKeyById(keyA);
    await lock.release();
    expect(await up).toBe(true);
    expect(await pending).toBe(true);
    expect(await del).toBe(true);
    expect(await rowData(keyA)).toBeUndefined();
  });
});

describe('LatestWins without PostgreSQL', () => {
  it('submitters of one pending write share its promise, which settles with that write', async () => {
    const { LatestWins } = await import('./latest-wins.js');
    const sent: string[] = [];
    const gates: Array<(ok: boolean) => void> = [];
    const lw = new LatestWins<string>((_key, value) => {
      sent.push(value);
      return new Promise<boolean>((r) => gates.push(r));
    });
    const first = lw.submit('k', 'v1');
    const a = lw.submit('k', 'v2');
    const b = lw.submit('k', 'v3');
    // one promise per write, not per submission: a hot key holds nothing per request while it waits
    expect(b).toBe(a);
    expect(first).not.toBe(a);
    let aSettled = false;
    void a.then(() => (aSettled = true));
    gates.shift()!(true);
    expect(await first).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(aSettled).toBe(false);
    expect(sent).toEqual(['v1', 'v3']);
    gates.shift()!(false);
    expect(await a).toBe(false);
    await lw.flush();
    expect(lw.stats).toEqual({ submitted: 3, sent: 2 });
    expect(lw.busy('k')).toBe(false);
  });
});
