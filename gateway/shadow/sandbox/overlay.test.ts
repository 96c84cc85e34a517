import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { SandboxOverlay } from './overlay.js';
import { dumpKeyspace } from './keyspace.js';

describe('sandbox overlay', () => {
  let prod: PrivateRedis;
  let box: PrivateRedis;
  let overlay: SandboxOverlay;
  let candidate: Redis;
  let prodClient: Redis;

  beforeAll(async () => {
    [prod, box] = await Promise.all([startPrivateRedis(), startPrivateRedis()]);
    prodClient = prod.client();
    await prodClient.hset('apikey:1', 'name', 'one', 'tokenLimit', '100');
    await prodClient.set('counter', '5', 'PX', 600_000);
    await prodClient.rpush('list', 'a', 'b');
    await prodClient.set('usage:a', '1');
    await prodClient.set('usage:b', '2');
    overlay = await new SandboxOverlay({
      production: prod.client(),
      sandbox: box.client(),
      sandboxHost: box.host,
      sandboxPort: box.port,
    }).start();
    candidate = new Redis({ host: '127.0.0.1', port: overlay.port, password: 'prod-secret', db: 3 });
  });
  afterAll(async () => {
    candidate.disconnect();
    await overlay.close();
    await Promise.all([prod.stop(), box.stop()]);
  });

  it("masks production's webhook config: a (legacy) candidate finds none and cannot notify a second time", async () => {
    await prodClient.set('webhook_config:default', JSON.stringify({ enabled: true, platforms: [{ type: 'custom', url: 'http://hook', enabled: true }] }));
    try {
      const run = await overlay.beginRun();
      expect(await candidate.get('webhook_config:default')).toBeNull();
      expect(await candidate.exists('webhook_config:default')).toBe(0);
      expect(run.finish().materialized.get('webhook_config:default')).toBe('masked');
      expect(await prodClient.exists('webhook_config:default')).toBe(1);
    } finally {
      await prodClient.del('webhook_config:default');
    }
  });

  it('reads production state, writes only the sandbox, and records what it wrote', async () => {
    const before = await dumpKeyspace(prodClient);
    const run = await overlay.beginRun();
    expect(await candidate.hgetall('apikey:1')).toEqual({ name: 'one', tokenLimit: '100' });
    expect(await candidate.incr('counter')).toBe(6);
    const ttl = await candidate.pttl('counter');
    expect(ttl).toBeGreaterThan(590_000);
    await candidate.hset('apikey:1', 'lastUsedAt', 'now');
    await candidate.del('list');
    expect(await candidate.get('missing')).toBeNull();
    await candidate.set('fresh', 'x');
    const multi = await candidate.multi().incr('counter').lpush('list2', 'z').exec();
    expect(multi?.map((r) => r[1])).toEqual([7, 1]);
    expect((await candidate.keys('usage:*')).sort()).toEqual(['usage:a', 'usage:b']);
    const result = run.finish();
    expect([...result.written].sort()).toEqual(['apikey:1', 'counter', 'fresh', 'list', 'list2']);
    expect(result.materialized.get('apikey:1')).toBe('production');
    expect(result.materialized.get('missing')).toBe('absent');
    expect(result.patterns).toEqual(['usage:*']);
    // production: byte-for-byte as before
    expect(await dumpKeyspace(prodClient)).toEqual(before);
    // sandbox holds the candidate's writes
    const sandbox = new Redis({ host: box.host, port: box.port });
    expect(await sandbox.get('counter')).toBe('7');
    expect(await sandbox.hgetall('apikey:1')).toEqual({ name: 'one', tokenLimit: '100', lastUsedAt: 'now' });
    expect(await sandbox.exists('list')).toBe(0);
    sandbox.disconnect();
  });

  it('starts every run from production again, and prefers the primary pre-image', async () => {
    const run = await overlay.beginRun(new Map([['counter', { payload: null, pttl: -2 }]]));
    expect(await candidate.get('counter')).toBeNull();
    expect(await candidate.hget('apikey:1', 'lastUsedAt')).toBeNull();
    expect(run.finish().materialized.get('counter')).toBe('absent');
  });

  it('answers a Lua script against copied keys', async () => {
    await overlay.beginRun();
    const out = await candidate.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, 'counter', '10');
    expect(out).toBe(15);
    expect(await prodClient.get('counter')).toBe('5');
  });
});

describe('sandbox overlay on a non-zero sandbox database', () => {
  it('lands a client that never sends SELECT (ioredis db 0) on the sandbox database, not on db 0', async () => {
    const [prod, box] = await Promise.all([startPrivateRedis(), startPrivateRedis()]);
    const prodClient = prod.client();
    await prodClient.set('k', 'production');
    const boxAdmin = box.client();
    await boxAdmin.set('k', 'stale-in-db0'); // what a run on db 0 might have left behind
    const overlay = await new SandboxOverlay({
      production: prod.client(),
      sandbox: box.client(),
      sandboxHost: box.host,
      sandboxPort: box.port,
      sandboxDb: 2,
    }).start();
    const candidate = new Redis({ host: '127.0.0.1', port: overlay.port });
    candidate.on('error', () => {});
    try {
      const run = await overlay.beginRun();
      expect(await candidate.get('k')).toBe('production');
      await candidate.set('written', '1');
      run.finish();
      expect(await boxAdmin.get('k')).toBe('stale-in-db0');
      expect(await boxAdmin.exists('written')).toBe(0);
      await boxAdmin.select(2);
      expect(await boxAdmin.get('written')).toBe('1');
      expect(await boxAdmin.get('k')).toBe('production');
    } finally {
      candidate.disconnect();
      await overlay.close();
      await Promise.all([prod.stop(), box.stop()]);
    }
  });
});
