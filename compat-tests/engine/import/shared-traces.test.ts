import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { legacyTracesDir, projectRoot } from '../../../test-support/paths.js';
import { decodeBytes } from '../format/bytes.js';
import { parseExchange } from '../format/exchange.js';
import { readExchange, readManifest } from '../format/suite-store.js';
import { importTraceFolder, listTraceFolders } from './shared-traces.js';

const suiteDir = join(projectRoot, 'compat-tests', 'suites', 'legacy-shared');
const json = (dir: string, f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));

describe.runIf(existsSync(legacyTracesDir))('shared trace importer', () => {
  it('round-trips all 47 exchanges: bytes, header order, snapshots, upstream requests', () => {
    const names = listTraceFolders(legacyTracesDir);
    expect(names).toHaveLength(47);
    for (const name of names) {
      const dir = join(legacyTracesDir, name);
      const ex = parseExchange(JSON.parse(JSON.stringify(importTraceFolder(dir))), name);
      const res = json(dir, 'response.json');
      expect(decodeBytes(ex.response.body).equals(readFileSync(join(dir, 'response.body')))).toBe(true);
      const lines: string[] = [];
      for (let i = 0; i < ex.response.rawHeaders.length; i += 2) lines.push(`${ex.response.rawHeaders[i]}: ${ex.response.rawHeaders[i + 1]}`);
      expect(lines).toEqual(res.rawHeaders);
      expect(ex.response.status).toBe(res.status);
      expect(ex.response.chunks.reduce((n, c) => n + c.bytes, 0)).toBe(res.bodyBytes ?? decodeBytes(ex.response.body).length);
      if (existsSync(join(dir, 'request.body'))) expect(decodeBytes(ex.request.body).equals(readFileSync(join(dir, 'request.body')))).toBe(true);
      expect(ex.redis.before).toEqual(json(dir, 'redis.before.json'));
      expect(ex.redis.after).toEqual(json(dir, 'redis.after.json'));
      expect(ex.pg?.after).toEqual(json(dir, 'pg.after.json'));
      const up = json(dir, 'upstream.json') as Array<{ bodyRaw: string; rawHeaders: string[]; status: number }>;
      expect(ex.upstream.map((u) => decodeBytes(u.body).toString('utf8'))).toEqual(up.map((u) => u.bodyRaw));
      expect(ex.upstream.map((u) => u.rawHeaders)).toEqual(up.map((u) => u.rawHeaders));
      expect(ex.clock.startMs).toBe(Date.parse(json(dir, 'meta.json').capturedAt));
    }
  });

  it('the committed legacy-shared suite is exactly a fresh import', () => {
    const manifest = readManifest(suiteDir);
    expect(manifest.exchanges).toEqual(listTraceFolders(legacyTracesDir));
    for (const name of manifest.exchanges) {
      expect(readExchange(suiteDir, name)).toEqual(JSON.parse(JSON.stringify(importTraceFolder(join(legacyTracesDir, name)))));
    }
  });

  it('marks the exchange where the legacy died', () => {
    expect(importTraceFolder(join(legacyTracesDir, '32-upstream-429-oauth-stream')).source.backendDied).toBe(true);
    expect(importTraceFolder(join(legacyTracesDir, '31-admin-reset-oauth-status')).source.backendDied).toBeUndefined();
  });
});
