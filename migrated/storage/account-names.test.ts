import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { systemClock } from '../runtime/clock.js';
import { AccountNameIndex } from './account-names.js';
import { AccountRepository } from './accounts.js';

/**
 * The account name index against a real Redis: listings equal a SCAN's, cost one SCAN while nothing is created,
 * and see accounts created, updated or deleted by other clients (the legacy, an admin) on the next listing.
 */
let server: PrivateRedis;
let redis: Redis;
let other: Redis;
let index: AccountNameIndex;
let clockMs = 0;
const warnings: string[] = [];
const log = { warn: (_o: object, msg: string) => void warnings.push(msg) };

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = server.client();
  other = server.client();
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
  await redis.config('RESETSTAT');
  warnings.length = 0;
  clockMs = 1_000_000;
  for (const id of ['a1', 'a2', 'a3']) await redis.hset(`claude:account:${id}`, { id, name: id, isActive: 'true', lastUsedAt: '' });
  await redis.hset('claude_console_account:c1', { id: 'c1', name: 'c1' });
  index = new AccountNameIndex({ connect: () => new Redis({ port: server.port, retryStrategy: () => null, autoResubscribe: false }), log, now: () => clockMs, retryMs: 50 });
  await until(() => index.tracking);
});
afterEach(() => index.close());

async function until(ok: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
const scans = async () => Number(/cmdstat_scan:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
const repo = () => new AccountRepository({ redis, clock: systemClock(8), accountNames: index });
const plain = () => new AccountRepository({ redis, clock: systemClock(8) });
/** Listings compared as sets: two SCANs of the same keyspace may name keys in another order while Redis rehashes. */
const byId = (list: Array<Record<string, string>>) => [...list].sort((x, y) => (x['id']! < y['id']! ? -1 : 1));
const ids = async (r: AccountRepository, kind: 'claude' | 'claude-console' = 'claude') => (await r.list(kind)).map((a) => a.id).sort();

it('lists what a SCAN lists, with one SCAN for any number of listings', async () => {
  const before = await scans();
  for (let i = 0; i < 5; i++) expect(byId(await repo().list('claude'))).toEqual(byId(await plain().list('claude')));
  // five plain listings SCAN five times, the indexed ones once
  expect((await scans()) - before).toBe(6);
  expect(await ids(repo(), 'claude-console')).toEqual(['c1']);
});

it('an account updated elsewhere is read fresh without a SCAN; one created elsewhere makes the next listing SCAN', async () => {
  await repo().list('claude');
  const before = await scans();
  await other.hset('claude:account:a2', 'lastUsedAt', '2026-11-27T06:00:00.000Z');
  await new Promise((r) => setTimeout(r, 20));
  expect((await repo().list('claude')).find((a) => a.id === 'a2')?.['lastUsedAt']).toBe('2026-11-27T06:00:00.000Z');
  expect((await scans()) - before).toBe(0);

  await other.hset('claude:account:a4', { id: 'a4', name: 'a4' });
  await until(async () => (await ids(repo())).includes('a4'));
  expect(byId(await repo().list('claude'))).toEqual(byId(await plain().list('claude')));
  // a new name: one SCAN for that type, then served from the index again
  const after = await scans();
  await repo().list('claude');
  expect(await scans()).toBe(after);
});

it('a deleted account is not listed (its empty hash is skipped), a flush empties the index', async () => {
  await repo().list('claude');
  await other.del('claude:account:a1');
  await new Promise((r) => setTimeout(r, 20));
  expect(await ids(repo())).toEqual(['a2', 'a3']);
  await other.flushall();
  await until(async () => (await ids(repo())).length === 0);
  await other.hset('claude:account:b1', { id: 'b1' });
  await until(async () => (await ids(repo())).includes('b1'));
});

it('SCANs again when its list is older than maxAgeMs', async () => {
  await repo().list('claude');
  const before = await scans();
  clockMs += 59_000;
  await repo().list('claude');
  expect((await scans()) - before).toBe(0);
  clockMs += 2_000;
  await repo().list('claude');
  expect((await scans()) - before).toBe(1);
});

it('while its connection is gone every listing SCANs; it reconnects and serves from the index again', async () => {
  await repo().list('claude');
  await redis.client('KILL', 'TYPE', 'pubsub');
  await until(() => !index.tracking);
  // an account created while the index is down is listed: every listing SCANs meanwhile
  await other.hset('claude:account:down', { id: 'down' });
  const before = await scans();
  expect(await ids(repo())).toContain('down');
  expect((await scans()) - before).toBe(1);
  await until(() => index.tracking);
  await repo().list('claude');
  const back = await scans();
  await repo().list('claude');
  expect(await scans()).toBe(back);
  expect(await ids(repo())).toEqual(['a1', 'a2', 'a3', 'down']);
});

it('a Redis without client tracking: a warning, and every listing SCANs', async () => {
  index.close();
  const failing = new AccountNameIndex({
    connect: () => {
      const c = new Redis({ port: server.port, retryStrategy: () => null, autoResubscribe: false });
      // as a server that does not know CLIENT TRACKING answers
      const call = c.call.bind(c);
      (c as unknown as { call: typeof c.call }).call = ((...args: Parameters<typeof c.call>) =>
        args[0] === 'CLIENT' && args[1] === 'TRACKING' ? Promise.reject(Object.assign(new Error("ERR unknown subcommand 'TRACKING'"), { name: 'ReplyError' })) : call(...args)) as typeof c.call;
      return c;
    },
    log,
    retryMs: 20,
  });
  await until(() => warnings.length > 0);
  // asked once: no retry, no second warning
  await new Promise((r) => setTimeout(r, 200));
  expect(warnings).toHaveLength(1);
  expect(failing.tracking).toBe(false);
  const before = await scans();
  const r = new AccountRepository({ redis, clock: systemClock(8), accountNames: failing });
  await r.list('claude');
  await r.list('claude');
  expect((await scans()) - before).toBe(2);
  failing.close();
});

it('an account created elsewhere before one of our reads is answered is in the listing that follows that read', async () => {
  await repo().list('claude');
  for (let i = 0; i < 40; i++) {
    await other.hset(`claude:account:n${i}`, { id: `n${i}` });
    // the request's key lookup: Redis answers it after the creation, whose invalidation it has already sent
    await redis.ping();
    expect(await ids(repo())).toContain(`n${i}`);
  }
});

it('concurrent listings share one SCAN; a listing that starts after a new name arrived does not join it', async () => {
  // the index is live but has no list yet: ten listings at once
  index.close();
  index = new AccountNameIndex({ connect: () => new Redis({ port: server.port, retryStrategy: () => null, autoResubscribe: false }), log, now: () => clockMs });
  await until(() => index.tracking);
  const before = await scans();
  const lists = await Promise.all(Array.from({ length: 10 }, () => ids(repo())));
  expect(lists.every((l) => l.join() === 'a1,a2,a3')).toBe(true);
  expect((await scans()) - before).toBe(1);

  // a SCAN under way, then an account created: a listing that starts now makes its own SCAN
  index.close();
  index = new AccountNameIndex({ connect: () => new Redis({ port: server.port, retryStrategy: () => null, autoResubscribe: false }), log, now: () => clockMs });
  await until(() => index.tracking);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let scansMade = 0;
  const slow = async () => {
    scansMade++;
    await gate;
    return ['claude:account:a1'];
  };
  const first = index.names('claude', slow);
  const joined = index.names('claude', slow);
  await other.hset('claude:account:late', { id: 'late' });
  await new Promise((r) => setTimeout(r, 30));
  const own = index.names('claude', async () => {
    scansMade++;
    return ['claude:account:a1', 'claude:account:late'];
  });
  expect(await own).toEqual(['claude:account:a1', 'claude:account:late']);
  release();
  expect(await first).toEqual(['claude:account:a1']);
  expect(await joined).toEqual(['claude:account:a1']);
  expect(scansMade).toBe(2);
});
