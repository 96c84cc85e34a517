import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../../test-support/paths.js';
import { decodeBytes, encodeBytes } from '../format/bytes.js';
import type { Exchange } from '../format/exchange.js';
import { readExchange, readManifest } from '../format/suite-store.js';
import { compileNoise, readNoiseFile, type NoiseFile } from '../noise/rules.js';
import { diffExchange, type Observed } from './exchange-diff.js';

/** The engine must catch what it exists to catch: one mutation at a time, reported at the right place. */
const suiteDir = join(projectRoot, 'compat-tests', 'suites', 'legacy-shared');
let noiseFiles: NoiseFile[];

/** What a perfect replay would observe: the recording itself (deep copy, free to mutate). */
function perfect(ex: Exchange): Observed {
  const copy = structuredClone(ex);
  return {
    response: { status: copy.response.status, rawHeaders: copy.response.rawHeaders, body: decodeBytes(copy.response.body) },
    upstream: copy.upstream,
    redisAfter: copy.redis.after,
    pgAfter: copy.pg?.after ?? null,
  };
}

function run(ex: Exchange, obs: Observed) {
  return diffExchange(ex, obs, compileNoise(noiseFiles, ex.name));
}

beforeAll(() => {
  noiseFiles = [readNoiseFile(join(projectRoot, 'compat-tests', 'noise.default.json')), readNoiseFile(join(suiteDir, 'noise.json'))];
});

describe('diffExchange', () => {
  it('finds nothing when the observation is the recording', () => {
    for (const name of ['01-health', '04-messages-nonstream-oauth-first', '06-messages-stream-oauth', '15-openai-chat-stream', 'a3-admin-create-api-key']) {
      const ex = readExchange(suiteDir, name);
      expect(run(ex, perfect(ex)).differences, name).toEqual([]);
    }
  });

  it('reports one changed byte of a stream at its SSE event, JSON path and byte offset', () => {
    const ex = readExchange(suiteDir, '06-messages-stream-oauth');
    const obs = perfect(ex);
    const text = obs.response.body.toString('utf8');
    const at = text.indexOf('"text":" mock"') + 9; // the "m" of " mock"
    obs.response.body = Buffer.from(text.slice(0, at) + 'M' + text.slice(at + 1), 'utf8');
    const d = run(ex, obs);
    expect(d.differences).toHaveLength(1);
    const diff = d.differences[0]!;
    expect(diff.path).toMatch(/^response\.body#event\[\d+\]\$\.delta\.text$/);
    expect(diff.expected).toBe(' mock');
    expect(diff.actual).toBe(' Mock');
    expect(diff.byteOffset).toBe(Buffer.byteLength(text.slice(0, at)));
    expect(diff.detail?.[0]).toMatch(/^SSE event #\d+ \(content_block_delta\)$/);
    expect(d.firstBodyDivergence).toBe(diff.byteOffset);
  });

  it('a stream cut inside an event (client abort): the undispatched tail is not compared, a lost complete event still is', () => {
    const ex = readExchange(suiteDir, '06-messages-stream-oauth');
    const full = perfect(ex).response.body.toString('utf8');
    const cutAt = (text: string, n: number) => {
      let at = 0;
      for (let i = 0; i < n; i++) at = text.indexOf('\n\n', at) + 2;
      return at;
    };
    // both sides cut after 3 events, inside the 4th, at different points: same dispatched events
    const recorded = structuredClone(ex);
    recorded.response.body = encodeBytes(Buffer.from(full.slice(0, cutAt(full, 3) + 30), 'utf8'));
    const obs = perfect(recorded);
    obs.response.body = Buffer.from(full.slice(0, cutAt(full, 3) + 12), 'utf8');
    const same = run(recorded, obs);
    expect(same.differences).toEqual([]);
    expect(same.ignored.byRule['sse:undispatched-final-block']?.count).toBe(2);
    // the replay lost the recording's 3rd complete event: reported
    obs.response.body = Buffer.from(full.slice(0, cutAt(full, 2) + 12), 'utf8');
    const lost = run(recorded, obs);
    expect(lost.differences.map((d) => [d.path, d.kind])).toEqual([['response.body#event[2]', 'missing']]);
  });

  it('reports a byte outside any JSON value (SSE framing) with its offset', () => {
    const ex = readExchange(suiteDir, '06-messages-stream-oauth');
    const obs = perfect(ex);
    const text = obs.response.body.toString('utf8');
    const at = text.indexOf('event: ping');
    obs.response.body = Buffer.from(text.slice(0, at) + 'event:  ping' + text.slice(at + 11), 'utf8');
    const d = run(ex, obs);
    expect(d.differences.length).toBeGreaterThan(0);
    expect(d.differences[0]!.path).toMatch(/^response\.body#event\[2\]/);
    expect(d.differences[0]!.byteOffset).toBe(at + 7); // 'event: ' agrees, then 'p' vs ' '
  });

  it('reports one hash field, one TTL, one header value, header order and name case', () => {
    const ex = readExchange(suiteDir, '04-messages-nonstream-oauth-first');
    const key = Object.keys(ex.redis.after).find((k) => k.startsWith('usage:daily:'))!;
    const obs = perfect(ex);
    (obs.redisAfter[key]!.value as Record<string, string>)['requests'] = '2';
    const ttlKey = Object.keys(ex.redis.after).find((k) => ex.redis.after[k]!.ttl > 1000 && k !== key)!;
    obs.redisAfter[ttlKey]!.ttl -= 1000;
    const h = obs.response.rawHeaders;
    h[h.indexOf('X-Frame-Options') + 1] = 'SAMEORIGIN';
    const paths = run(ex, obs).differences.map((x) => x.path);
    expect(paths).toContain(`redis.${key}.field.requests`);
    expect(paths).toContain(`redis.${ttlKey}.ttl`);
    expect(paths).toContain('response.header.x-frame-options');
    expect(paths).toHaveLength(3);

    const obs2 = perfect(ex);
    const r = obs2.response.rawHeaders;
    [r[0], r[1], r[2], r[3]] = [r[2]!, r[3]!, r[0]!, r[1]!];
    r[4] = r[4]!.toLowerCase();
    obs2.redisAfter[ttlKey]!.ttl -= 1; // a second of countdown is within the elapsed window
    const d2 = run(ex, obs2).differences.map((x) => x.path);
    expect(d2).toEqual([`response.header.${r[4]}#name`, 'response.header#order']);
  });

  it('a TTL the recording refreshed must be refreshed in the replay, even when the numbers are close', () => {
    const ex = structuredClone(readExchange(suiteDir, '05-messages-nonstream-oauth-second'));
    const key = Object.keys(ex.redis.after).find((k) => k.startsWith('usage:daily:'))!;
    ex.redis.before[key]!.ttl = ex.redis.after[key]!.ttl - 100; // the recording refreshed a TTL 100 s down
    const ok = perfect(ex);
    expect(run(ex, ok).differences).toEqual([]);
    const missed = perfect(ex);
    missed.redisAfter[key]!.ttl = ex.redis.before[key]!.ttl; // the replay left it counting down
    const d = run(ex, missed).differences;
    expect(d.map((x) => x.path)).toEqual([`redis.${key}.ttl`]);
    expect(d[0]!.detail![0]).toMatch(/^the recording refreshed the TTL, the replay did not/);
    const extra = perfect(ex);
    const kept = Object.keys(ex.redis.after).find((k) => {
      const b = ex.redis.before[k]?.ttl ?? -1;
      return k !== key && b > 1000 && b - ex.redis.after[k]!.ttl >= 0 && b - ex.redis.after[k]!.ttl <= 1;
    })!;
    ex.redis.before[kept]!.ttl -= 50; // counted down during the recording...
    ex.redis.after[kept]!.ttl -= 50;
    extra.redisAfter[kept]!.ttl = ex.redis.after[kept]!.ttl + 50; // ...but refreshed by the replay
    expect(run(ex, extra).differences.map((x) => x.detail?.[0])).toEqual([expect.stringMatching(/^the replay refreshed a TTL the recording left counting down/)]);
  });

  it('reports one upstream body field and a missing upstream request', () => {
    const ex = readExchange(suiteDir, '07-messages-nonstream-console');
    const obs = perfect(ex);
    const body = decodeBytes(obs.upstream[0]!.body).toString('utf8').replace('"max_tokens":256', '"max_tokens":255');
    obs.upstream[0]!.body = encodeBytes(body);
    expect(run(ex, obs).differences.map((x) => [x.path, x.expected, x.actual])).toEqual([['upstream[0].body$.max_tokens', '256', '255']]);
    const none = perfect(ex);
    none.upstream = [];
    expect(run(ex, none).differences.map((x) => [x.path, x.kind])).toEqual([['upstream[0]', 'missing']]);
  });

  it('reports a missing key, an extra key and a changed PostgreSQL column', () => {
    const ex = readExchange(suiteDir, '06-messages-stream-oauth');
    const obs = perfect(ex);
    delete obs.redisAfter['billing:events'];
    obs.redisAfter['surprise'] = { type: 'string', ttl: -1, value: 'x' };
    const row = Object.keys(obs.pgAfter!['api_keys']!.rows)[0]!;
    (obs.pgAfter!['api_keys']!.rows[row]!['data'] as Record<string, unknown>)['name'] = 'renamed';
    const d = run(ex, obs).differences.map((x) => `${x.kind} ${x.path}`);
    expect(d).toEqual(['missing redis.billing:events', 'extra redis.surprise', `changed pg.api_keys.${row}.data$.name`]);
  });

  it('noise never hides a change in a non-noise field of the same value, and counts what it ignores', () => {
    const ex = readExchange(suiteDir, '06-messages-stream-oauth');
    const edit = (fn: (event: Record<string, any>) => void): Observed => {
      const obs = perfect(ex);
      const entry = (obs.redisAfter['billing:events']!.value as Array<[string, string[]]>)[0]!;
      const ev = JSON.parse(entry[1][1]!);
      fn(ev);
      entry[1][1] = JSON.stringify(ev);
      return obs;
    };
    const noisy = run(ex, edit((ev) => (ev.eventId = '1795693923183-zzzzzzzzz')));
    expect(noisy.differences).toEqual([]);
    // the JSON string as it stands in the bytes, quotes included
    expect(noisy.ignored.byRule['rule:billing-event-id']).toEqual({ count: 1, bytes: '"1795693923183-09k0ze3wy"'.length });
    const real = run(ex, edit((ev) => {
      ev.eventId = '1795693923183-zzzzzzzzz';
      ev.usage.inputTokens = 50;
    }));
    expect(real.differences.map((x) => x.path)).toEqual(['redis.billing:events.entry[0].field.data$.usage.inputTokens']);
  });

  it('every learned rule is scoped: the same location changed in an exchange outside its scope is still reported', () => {
    const learned = noiseFiles[1]!.rules.filter((r) => r.source === 'learned' && r.match.startsWith('response.header.') && r.exchanges);
    let checked = 0;
    for (const rule of learned) {
      const header = rule.match.slice('response.header.'.length);
      for (const name of readManifest(suiteDir).exchanges) {
        if (rule.exchanges!.includes(name)) continue;
        const ex = readExchange(suiteDir, name);
        const obs = perfect(ex);
        const h = obs.response.rawHeaders;
        const i = h.findIndex((x, j) => j % 2 === 0 && x.toLowerCase() === header);
        if (i < 0) continue;
        h[i + 1] = 'changed-by-test';
        expect(run(ex, obs).differences.map((x) => x.path), `${rule.id} on ${name}`).toContain(`response.header.${header}`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('matches an id born in the exchange as one variable everywhere, and catches an inconsistent one', () => {
    const ex = readExchange(suiteDir, 'a3-admin-create-api-key');
    const newKey = Object.keys(ex.redis.after).find((k) => k.startsWith('apikey:') && !(k in ex.redis.before) && k !== 'apikey:hash_map')!;
    const oldId = newKey.slice('apikey:'.length);
    const newId = 'abcdef01-2345-4678-89ab-cdef01234567';
    const swap = (s: string) => s.split(oldId).join(newId);
    const consistent = perfect(ex);
    consistent.response.body = Buffer.from(swap(consistent.response.body.toString('utf8')));
    consistent.redisAfter = JSON.parse(swap(JSON.stringify(consistent.redisAfter)));
    consistent.pgAfter = JSON.parse(swap(JSON.stringify(consistent.pgAfter)));
    const ok = run(ex, consistent);
    expect(ok.differences.filter((x) => x.path !== 'response.header.content-length' && x.path !== 'response.header.etag')).toEqual([]);
    expect(ok.ignored.byRule['variable:uuid']!.count).toBeGreaterThan(3);

    const inconsistent = perfect(ex);
    inconsistent.response.body = Buffer.from(swap(inconsistent.response.body.toString('utf8')));
    const bad = run(ex, inconsistent).differences;
    expect(bad.map((x) => x.path)).toContain(`redis.${newKey}`);
    expect(bad.find((x) => x.path === `redis.${newKey}`)!.detail![0]).toContain(`still holds ${oldId}`);
  });

  it('a pre-existing id may not turn into another one', () => {
    const ex = readExchange(suiteDir, '04-messages-nonstream-oauth-first');
    const obs = perfect(ex);
    const text = obs.response.body.toString('utf8');
    const keyId = Object.keys(ex.redis.before).find((k) => /^apikey:[0-9a-f-]{36}$/.test(k))!.slice(7);
    const rec = Object.keys(obs.redisAfter).find((k) => k.startsWith('usage:records:'))!;
    const list = obs.redisAfter[rec]!.value as string[];
    const acct = /"accountId":"([0-9a-f-]{36})"/.exec(list[0]!)![1]!;
    list[0] = list[0]!.replace(acct, '99999999-2222-4333-8444-555555555555');
    expect(text.length).toBeGreaterThan(0);
    expect(keyId).toBeTruthy();
    expect(run(ex, obs).differences.map((x) => x.path)).toEqual([`redis.${rec}.item[0]$.accountId`]);
  });
});
