import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MigratedModuleFactory } from '../../../migrated/module.js';
import { knownModuleNames } from '../../../migrated/registry.js';
import { projectRoot } from '../../../test-support/paths.js';
import { loadRedisSnapshot, type RedisSnapshot as LoaderSnapshot } from '../../../test-support/redis-snapshot.js';
import { decodeBytes } from '../format/bytes.js';
import type { Exchange } from '../format/exchange.js';
import { readExchange } from '../format/suite-store.js';
import { loadRouteResolver } from '../routing/resolve.js';
import { loadPgSnapshot } from './pg-state.js';
import { createReplayer, type Replayer } from './replayer.js';

/**
 * The replayer end to end with a stand-in module for claude-messages that does exactly what the
 * legacy recorded (same upstream call through deps.upstreamOverride, same answer bytes, same
 * Redis and PostgreSQL after-state), or the same with one thing wrong.
 */
const suiteDir = join(projectRoot, 'compat-tests', 'suites', 'legacy-shared');

function standIn(ex: Exchange, mutate: 'none' | 'hash-field' | 'upstream-body' | 'stream-byte'): MigratedModuleFactory {
  return (deps) => ({
    name: 'stand-in',
    async handle(req, res) {
      for await (const _ of req) void _;
      const up = ex.upstream[0]!;
      let body = decodeBytes(up.body).toString('utf8');
      if (mutate === 'upstream-body') body = body.replace('"max_tokens":256', '"max_tokens":512');
      const headers = [...up.rawHeaders];
      const cl = headers.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'content-length');
      headers[cl + 1] = String(Buffer.byteLength(body));
      const base = new URL(deps.upstreamOverride!);
      await new Promise<void>((resolve, reject) => {
        const r = request({ host: base.hostname, port: base.port, method: up.method, path: up.url, headers: headers as unknown as Record<string, string> }, (ur) => {
          ur.resume();
          ur.on('end', resolve);
        });
        r.on('error', reject);
        r.end(body);
      });
      const raw = ex.response.rawHeaders.filter((_, i) => !['date', 'transfer-encoding'].includes(ex.response.rawHeaders[i - (i % 2)]!.toLowerCase()));
      let out = decodeBytes(ex.response.body);
      if (mutate === 'stream-byte') {
        const t = out.toString('utf8');
        const at = t.indexOf(' upstream.');
        out = Buffer.from(t.slice(0, at + 1) + 'U' + t.slice(at + 2));
      }
      res.writeHead(ex.response.status, raw);
      res.end(out);
      // after the response, like the legacy's usage recording
      const after = structuredClone(ex.redis.after);
      if (mutate === 'hash-field') {
        const key = Object.keys(after).find((k) => k.startsWith('usage:daily:'))!;
        (after[key]!.value as Record<string, string>)['requests'] = '999';
      }
      setTimeout(() => {
        void (async () => {
          await loadRedisSnapshot(deps.redis, after as unknown as LoaderSnapshot);
          if (deps.pg && ex.pg) await loadPgSnapshot(deps.pg, ex.pg.after);
        })();
      }, 20);
    },
  });
}

describe('replayer', () => {
  let replayer: Replayer | null = null;
  afterAll(async () => {
    await replayer?.close();
  });

  it('reports identical for a faithful module and each mutation at its place', async () => {
    const ex = readExchange(suiteDir, '08-messages-stream-console');
    // the table may already name other migrated modules: validate it against the registry, plus the stand-in
    const resolver = await loadRouteResolver({ moduleNames: [...new Set([...knownModuleNames(), 'claude-messages'])] });
    expect(resolver.available, resolver.note).toBe(true);
    const route = resolver.resolve(ex.request.method, ex.request.path);
    expect(route.migrated).toBe(true);
    const outcomes: Record<string, string[]> = {};
    for (const mutate of ['none', 'hash-field', 'upstream-body', 'stream-byte'] as const) {
      await replayer?.close();
      replayer = await createReplayer({ resolver, modules: { 'claude-messages': async () => standIn(ex, mutate) } });
      const r = await replayer.replay('legacy-shared', suiteDir, ex, route);
      expect(r.outcome, `${mutate}: ${r.reason ?? ''} ${JSON.stringify(r.differences.slice(0, 3))}`).toBe(mutate === 'none' ? 'identical' : 'differs');
      outcomes[mutate] = r.differences.map((d) => d.path);
    }
    const key = Object.keys(ex.redis.after).find((k) => k.startsWith('usage:daily:'))!;
    expect(outcomes['hash-field']).toEqual([`redis.${key}.field.requests`]);
    expect(outcomes['upstream-body']).toEqual(['upstream[0].body$.max_tokens']);
    expect(outcomes['stream-byte']).toHaveLength(1);
    expect(outcomes['stream-byte']![0]).toMatch(/^response\.body#event\[\d+\]\$\.delta\.text$/);
  });
});
