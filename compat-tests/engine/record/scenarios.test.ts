import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { concretize, holdsOf, readScenarios, readVars, varsFromRecorded } from './scenarios.js';

describe('scenario lists', () => {
  it('reads requests, skips step markers, keeps holdWith', () => {
    const dir = mkdtempSync(join(tmpdir(), 'compat-sc-'));
    try {
      const file = join(dir, 's.json');
      writeFileSync(
        file,
        JSON.stringify([
          { fresh: true, name: 'g1' },
          { name: 'a', method: 'GET', path: '/x', capture: { K: 'data.id' } },
          { name: 'b', method: 'POST', path: '/y', headers: { 'x-api-key': '${K}' }, body: { m: 1 }, holdWith: { method: 'POST', path: '/z', startMs: 100, headers: { 'x-api-key': '${K}' }, body: { hold: true } } },
        ]),
      );
      const list = readScenarios(file);
      expect(list.map((s) => s.name)).toEqual(['a', 'b']);
      expect(holdsOf(list[1]!)).toHaveLength(1);
      const hold = concretize({ ...holdsOf(list[1]!)[0]!, name: 'hold' }, { K: 'cr_1' }, {});
      expect(hold.rawHeaders).toEqual(['x-api-key', 'cr_1', 'content-length', '13']);
      expect(hold.body.toString()).toBe('{"hold":true}');
      writeFileSync(join(dir, 'v.env'), 'export A=1\nB="two words"\n# c\n');
      expect(readVars(join(dir, 'v.env'))).toEqual({ A: '1', B: 'two words' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('recovers ${VAR} values from a recorded request', () => {
    const vars = varsFromRecorded(
      { name: 'x', method: 'GET', path: '/api/${SEG}/info?key=${K2}', headers: { Authorization: 'Bearer ${K}', 'x-static': 'v' } },
      { path: '/api/v1/info?key=abc', rawHeaders: ['authorization', 'Bearer cr_zz', 'x-static', 'v'] },
    );
    expect(vars).toEqual({ SEG: 'v1', K2: 'abc', K: 'cr_zz' });
  });
});
