import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pricingFile } from '../../test-support/paths.js';
import { costCalculatorCost, ephemeral1hPrice, pricingServiceCost } from './cost.js';
import { PricingTable } from './pricing-table.js';

const table = new PricingTable(pricingFile).loadSync();

describe('pricing table lookup (pricingService.getModelPricing order)', () => {
  it('exact, region-stripped Bedrock, fuzzy in document order, and null', () => {
    expect(table.getModelPricing('claude-sonnet-4-5-20250929')?.input_cost_per_token).toBe(0.000003);
    const region = { input_cost_per_token: 1 };
    const first = { input_cost_per_token: 2 };
    const second = { input_cost_per_token: 3 };
    const mem = PricingTable.fromData({ 'anthropic.claude-x-v1:0': region, 'Model_A': first, 'model-a-long': second });
    expect(mem.getModelPricing('eu.anthropic.claude-x-v1:0')).toBe(region);
    expect(mem.getModelPricing('model-a')).toBe(first); // first in document order, `_`/`-` and case ignored
    expect(mem.getModelPricing('model-a-long-2024')).toBe(first); // 'modela' is contained in the name
    // fuzzy: `[1m]` suffix resolves to the first key whose normalized form is contained in the name
    const fuzzy = table.getModelPricing('claude-sonnet-4-20250514[1m]');
    expect(fuzzy).not.toBeNull();
    expect(table.getModelPricing('claude-sonnet-4-5-mock-stream-error')).toBeNull();
    expect(table.getModelPricing('')).toBeNull();
    expect(mem.entry('model-a')).toBeNull(); // exact only
    expect(mem.entry('Model_A')).toBe(first);
    expect(mem.entry('toString')).toBeNull();
  });

  it('re-reads the file when its mtime changes and keeps the old table on a broken file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-pricing-'));
    try {
      const f = join(dir, 'p.json');
      writeFileSync(f, JSON.stringify({ m1: { input_cost_per_token: 1 } }));
      const t = new PricingTable(f).loadSync();
      expect(await t.refreshIfChanged()).toBe(false);
      writeFileSync(f, JSON.stringify({ m1: { input_cost_per_token: 2 } }));
      utimesSync(f, new Date(Date.now() + 5000), new Date(Date.now() + 5000));
      expect(await t.refreshIfChanged()).toBe(true);
      expect(t.getModelPricing('m1')?.input_cost_per_token).toBe(2);
      writeFileSync(f, '{broken');
      utimesSync(f, new Date(Date.now() + 9000), new Date(Date.now() + 9000));
      expect(await t.refreshIfChanged()).toBe(false);
      expect(t.getModelPricing('m1')?.input_cost_per_token).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the two legacy cost formulas', () => {
  const mem = PricingTable.fromData({
    'claude-sonnet-4-20250514': { input_cost_per_token: 0.000003, output_cost_per_token: 0.000015, cache_creation_input_token_cost: 0.00000375, cache_read_input_token_cost: 3e-7 },
  });
  const usage = { input_tokens: 1000, output_tokens: 500, cache_creation_input_tokens: 2000, cache_read_input_tokens: 10000 };

  it('differ in the last bits exactly as documented (0.021 vs 0.020999999999999998)', () => {
    expect(pricingServiceCost(mem, usage, 'claude-sonnet-4-20250514').totalCost).toBe(0.021);
    expect(costCalculatorCost(mem, usage, 'claude-sonnet-4-20250514').costs.total).toBe(0.020999999999999998);
  });

  it('recorded exchange 37: CostCalculator breakdown bytes for 47/11/12/34 tokens', () => {
    const c = costCalculatorCost(table, { input_tokens: 47, output_tokens: 11, cache_creation_input_tokens: 12, cache_read_input_tokens: 34 }, 'claude-sonnet-4-5-20250929');
    expect(JSON.stringify(c.costs)).toBe('{"input":0.00014099999999999998,"output":0.000165,"cacheWrite":0.000045,"cacheRead":0.000010199999999999999,"total":0.00036119999999999994}');
  });

  it('unpriced model: pricingService 0, CostCalculator static unknown prices (exchange 22 account cost 0.0001092)', () => {
    const u = { input_tokens: 18, output_tokens: 0, cache_creation_input_tokens: 12, cache_read_input_tokens: 34 };
    expect(pricingServiceCost(table, u, 'claude-sonnet-4-5-mock-stream-error').totalCost).toBe(0);
    expect(costCalculatorCost(table, u, 'claude-sonnet-4-5-mock-stream-error').costs.total).toBeCloseTo(0.0001092, 12);
  });

  it('cache_creation object: 5m at the cache-create price, 1h at the hard-coded family price; flat count ignored', () => {
    const r = pricingServiceCost(mem, { ...usage, cache_creation: { ephemeral_5m_input_tokens: 100, ephemeral_1h_input_tokens: 10 } }, 'claude-sonnet-4-20250514');
    expect(r.ephemeral5mCost).toBe(100 * 0.00000375);
    expect(r.ephemeral1hCost).toBe(10 * 0.000006);
    expect(r.cacheCreateCost).toBe(100 * 0.00000375 + 10 * 0.000006);
    expect(ephemeral1hPrice('my-opus-x')).toBe(0.00003);
    expect(ephemeral1hPrice('gpt-4')).toBe(0);
  });

  it('OpenAI models without a cache-write price are charged the input price for cache writes', () => {
    const t = PricingTable.fromData({ 'gpt-x': { input_cost_per_token: 0.000002, output_cost_per_token: 0.000008, litellm_provider: 'openai' } });
    const c = costCalculatorCost(t, { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 1000000 }, 'gpt-x');
    expect(c.costs.cacheWrite).toBe(2);
  });
});
