import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateRedis, type PrivateRedis } from '../../../test-support/redis-server.js';
import { decodeBytes } from '../format/bytes.js';
import { cmdRecord } from './cli-record.js';

/**
 * `record` end to end: a node:http stand-in backend that hands out ids in JSON and remembers what
 * it was sent, a private Redis as the recorded store, and a reset script that bumps a counter and
 * rewrites the vars file (as /work/lab/rec-reset.sh writes fresh ids).
 */
describe('record: capture, fresh, record:false', () => {
  let redis: PrivateRedis;
  let backend: Server;
  let base: string;
  let dir: string;
  let made = 0;
  const seen: Array<{ url: string; key: string | undefined }> = [];

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const client = redis.client();
    backend = createServer((req, res) => {
      seen.push({ url: req.url!, key: req.headers['x-api-key'] as string | undefined });
      req.resume();
      req.on('end', () => {
        if (req.url === '/make') {
          made++;
          void client.set(`key:${made}`, 'made').then(() => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ success: true, data: { id: `id-${made}`, apiKey: `cr_made_${made}`, n: made } }));
          });
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`ok ${req.url}`);
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => backend.close(() => r()));
    await redis.stop();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'compat-rec-'));
    seen.length = 0;
  });

  const write = (name: string, value: unknown) => {
    writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
    return join(dir, name);
  };
  const resetScript = () => {
    const file = write(
      'reset.sh',
      `#!/bin/sh\nn=$(cat "${dir}/count" 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > "${dir}/count"\nprintf 'BOOT=boot%s\\n' $n > "${dir}/vars.env"\n`,
    );
    chmodSync(file, 0o755);
    return file;
  };
  const args = (list: string, ...more: string[]) => [
    '--suite', 'capture-test', '--scenarios', list, '--base', base, '--redis', redis.url,
    '--vars', join(dir, 'vars.env'), '--out', join(dir, 'out'), '--settle-ms', '10', '--settle-max-ms', '500', ...more,
  ];

  it('captures into later steps, resets and re-reads vars at fresh points, sends record:false steps unwritten', async () => {
    const list = write('list.json', [
      { fresh: true, name: 'g1-fresh' },
      { name: 'g1-make', method: 'POST', path: '/make', record: false, capture: { K: 'data.apiKey', N: 'data.n' } },
      { name: 'g1-use', method: 'GET', path: '/use?boot=${BOOT}&n=${N}', headers: { 'x-api-key': '${K}' } },
      { fresh: true, name: 'g2-fresh' },
      { name: 'g2-make', method: 'POST', path: '/make', capture: { K: 'data.apiKey' } },
      { name: 'g2-use', method: 'GET', path: '/use?boot=${BOOT}', headers: { 'x-api-key': '${K}' } },
    ]);
    const reset = resetScript();
    try {
      expect(await cmdRecord(args(list, '--reset', reset), '/nonexistent')).toBe(0);
      expect(readFileSync(join(dir, 'count'), 'utf8').trim()).toBe('2');
      const n0 = made - 2;
      expect(seen).toEqual([
        { url: '/make', key: undefined },
        { url: `/use?boot=boot1&n=${n0 + 1}`, key: `cr_made_${n0 + 1}` },
        { url: '/make', key: undefined },
        { url: '/use?boot=boot2', key: `cr_made_${n0 + 2}` },
      ]);
      const manifest = JSON.parse(readFileSync(join(dir, 'out', 'suite.json'), 'utf8')) as { exchanges: string[] };
      expect(manifest.exchanges).toEqual(['g1-use', 'g2-make', 'g2-use']);
      expect(readdirSync(join(dir, 'out', 'exchanges'))).toHaveLength(3);
      const use2 = JSON.parse(readFileSync(join(dir, 'out', 'exchanges', readdirSync(join(dir, 'out', 'exchanges')).sort()[2]!), 'utf8'));
      expect(use2.request.rawHeaders.slice(0, 2)).toEqual(['x-api-key', `cr_made_${n0 + 2}`]);
      expect(decodeBytes(use2.response.body).toString()).toBe('ok /use?boot=boot2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs only the asked fresh group with --group', async () => {
    const list = write('list.json', [
      { fresh: true, name: 'g1-fresh' },
      { name: 'a', method: 'GET', path: '/a?boot=${BOOT}' },
      { fresh: true, name: 'g2-fresh' },
      { name: 'b', method: 'GET', path: '/b?boot=${BOOT}' },
    ]);
    const reset = resetScript();
    try {
      expect(await cmdRecord(args(list, '--reset', reset, '--group', '2'), '/nonexistent')).toBe(0);
      expect(seen.map((s) => s.url)).toEqual(['/b?boot=boot1']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a list with fresh points without --reset, before sending anything', async () => {
    const list = write('list.json', [{ fresh: true }, { name: 'a', method: 'GET', path: '/a' }]);
    try {
      expect(await cmdRecord(args(list), '/nonexistent')).toBe(2);
      expect(seen).toEqual([]);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a variable neither in vars nor captured earlier is an error naming the step and the variable', async () => {
    const list = write('list.json', [
      { name: 'first', method: 'GET', path: '/a' },
      { name: 'late-user', method: 'GET', path: '/b', headers: { 'x-api-key': '${NEVER_CAPTURED}' } },
      { name: 'too-late', method: 'POST', path: '/make', capture: { NEVER_CAPTURED: 'data.apiKey' } },
    ]);
    write('vars.env', 'OTHER=1\n');
    try {
      await expect(cmdRecord(args(list), '/nonexistent')).rejects.toThrow(/step late-user: .*\$\{NEVER_CAPTURED\}/);
      expect(seen.map((s) => s.url)).toEqual(['/a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a capture path missing from the answer is an error naming the step', async () => {
    const list = write('list.json', [{ name: 'mk', method: 'POST', path: '/make', record: false, capture: { X: 'data.nope' } }]);
    write('vars.env', '');
    try {
      await expect(cmdRecord(args(list), '/nonexistent')).rejects.toThrow(/step mk: capture X \(data\.nope\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
