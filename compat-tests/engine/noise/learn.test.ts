import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../../test-support/paths.js';
import { decodeBytes } from '../format/bytes.js';
import type { Exchange } from '../format/exchange.js';
import { readExchange } from '../format/suite-store.js';
import { diffExchange, type Observed } from '../diff/exchange-diff.js';
import { learnNoise } from './learn.js';
import { compileNoise, readNoiseFile } from './rules.js';

/** Learning proposes exactly what differs between two legacy runs, and nothing it learned hides anything else. */
const suiteDir = join(projectRoot, 'compat-tests', 'suites', 'legacy-shared');
const defaults = readNoiseFile(join(projectRoot, 'compat-tests', 'noise.default.json'));

function setHeader(raw: string[], name: string, value: string): void {
  raw[raw.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name) + 1] = value;
}

describe('learnNoise', () => {
  it('proposes only the locations where two legacy runs differ, scoped to that exchange', () => {
    const primary = readExchange(suiteDir, '04-messages-nonstream-oauth-first');
    const secondary: Exchange = structuredClone(primary);
    setHeader(secondary.response.rawHeaders, 'x-request-id', 'qqqqqqqqqq');
    const key = Object.keys(secondary.redis.after).find((k) => k.startsWith('usage:records:'))!;
    const list = secondary.redis.after[key]!.value as string[];
    list[0] = list[0]!.replace('"fuelCost":0', '"fuelCost":1');
    const learned = learnNoise([primary], [secondary], [defaults]);
    expect(learned.compared).toBe(1);
    expect(learned.rules.map((r) => [r.match, r.exchanges])).toEqual([
      [`redis.${key}.item[0]$.fuelCost`, [primary.name]],
      ['response.header.x-request-id', [primary.name]],
    ]);

    // replay-like observation: both learned locations change (ignored, counted) and one other field does (reported)
    const obs: Observed = {
      response: { status: primary.response.status, rawHeaders: [...secondary.response.rawHeaders], body: decodeBytes(primary.response.body) },
      upstream: primary.upstream,
      redisAfter: structuredClone(secondary.redis.after),
      pgAfter: primary.pg?.after ?? null,
    };
    const daily = Object.keys(obs.redisAfter).find((k) => k.startsWith('usage:daily:'))!;
    (obs.redisAfter[daily]!.value as Record<string, string>)['requests'] = '7';
    const noise = compileNoise([defaults, { variables: [], rules: learned.rules }], primary.name);
    const d = diffExchange(primary, obs, noise);
    expect(d.differences.map((x) => x.path)).toEqual([`redis.${daily}.field.requests`]);
    expect(Object.keys(d.ignored.byRule).filter((r) => r.startsWith('rule:learned'))).toHaveLength(2);

    // the same learned rules do not apply to another exchange
    const other = compileNoise([defaults, { variables: [], rules: learned.rules }], '05-messages-nonstream-oauth-second');
    expect(other.ruleFor('response.header.x-request-id')).toBeUndefined();
  });
});
