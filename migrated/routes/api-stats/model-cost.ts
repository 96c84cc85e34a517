import { costCalculatorCost, type UsageTokens } from '../../pricing/cost.js';
import type { PricingTable } from '../../pricing/pricing-table.js';

/**
 * The parts of CostCalculator.calculateCost's result the public stats pages show: `costs`,
 * `formatted` (formatCost) and `pricing` (USD per million tokens), for the plain token usage
 * these endpoints build (no `cache_creation` object).
 */
export function formatCost(cost: number, decimals = 6): string {
  if (cost >= 1) return `$${cost.toFixed(2)}`;
  if (cost >= 0.001) return `$${cost.toFixed(4)}`;
  return `$${cost.toFixed(decimals)}`;
}

export interface ModelCost {
  costs: { input: number; output: number; cacheWrite: number; cacheRead: number; total: number };
  formatted: { input: string; output: string; cacheWrite: string; cacheRead: string; total: string };
  pricing: { input: number; output: number; cacheWrite: number; cacheRead: number };
}

/** Per-million prices: from the pricing table when it knows the model, else the calculator's static fallback. */
function pricingOf(table: PricingTable, model: string, cacheCreateTokens: number): ModelCost['pricing'] {
  const pd = table.getModelPricing(model);
  if (pd) {
    const input = (pd.input_cost_per_token || 0) * 1000000;
    let cacheWrite = (pd.cache_creation_input_token_cost || 0) * 1000000;
    const isOpenAI = model.includes('gpt') || model.includes('o1') || pd.litellm_provider === 'openai';
    if (isOpenAI && !pd.cache_creation_input_token_cost && cacheCreateTokens > 0) cacheWrite = input;
    return { input, output: (pd.output_cost_per_token || 0) * 1000000, cacheWrite, cacheRead: (pd.cache_read_input_token_cost || 0) * 1000000 };
  }
  // Static fallback: cost of one million tokens of each kind is the per-million price.
  const probe = (u: UsageTokens) => costCalculatorCost(table, u, model).costs;
  return {
    input: probe({ input_tokens: 1000000 }).input,
    output: probe({ output_tokens: 1000000 }).output,
    cacheWrite: probe({ cache_creation_input_tokens: 1000000 }).cacheWrite,
    cacheRead: probe({ cache_read_input_tokens: 1000000 }).cacheRead,
  };
}

export function modelCost(table: PricingTable, usage: Required<Pick<UsageTokens, 'input_tokens' | 'output_tokens' | 'cache_creation_input_tokens' | 'cache_read_input_tokens'>>, model: string): ModelCost {
  const { costs } = costCalculatorCost(table, usage, model);
  return {
    costs,
    formatted: {
      input: formatCost(costs.input),
      output: formatCost(costs.output),
      cacheWrite: formatCost(costs.cacheWrite),
      cacheRead: formatCost(costs.cacheRead),
      total: formatCost(costs.total),
    },
    pricing: pricingOf(table, model, usage.cache_creation_input_tokens),
  };
}
