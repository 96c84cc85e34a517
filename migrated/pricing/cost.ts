import type { ModelPrice, PricingTable } from './pricing-table.js';

/**
 * The legacy's TWO cost formulas, reproduced with the same operation order so the doubles
 * are bit-identical (usage-accounting.md §3; QUIRKS.md "two cost arithmetics"):
 *  - `pricingServiceCost`  = src/services/pricingService.js calculateCost: tokens × price-per-token;
 *  - `costCalculatorCost`  = src/utils/costCalculator.js CostCalculator.calculateCost:
 *    (tokens / 1e6) × price-per-million, with a static fallback table for unpriced models.
 */

export interface UsageTokens {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation?: { ephemeral_5m_input_tokens?: number; ephemeral_1h_input_tokens?: number } | null;
}

export interface PricingServiceCost {
  inputCost: number;
  outputCost: number;
  cacheCreateCost: number;
  cacheReadCost: number;
  ephemeral5mCost: number;
  ephemeral1hCost: number;
  totalCost: number;
  hasPricing: boolean;
  isLongContextRequest: boolean;
  /** Per-token prices used (for CostCalculator's delegation). */
  pricing: { input: number; output: number; cacheCreate: number; cacheRead: number; ephemeral1h: number };
}

/** Hard-coded 1-hour cache write prices (per token). */
const EPHEMERAL_1H: Record<string, number> = {
  'claude-opus-4-1': 0.00003,
  'claude-opus-4-1-20250805': 0.00003,
  'claude-opus-4': 0.00003,
  'claude-opus-4-20250514': 0.00003,
  'claude-3-opus': 0.00003,
  'claude-3-opus-latest': 0.00003,
  'claude-3-opus-20240229': 0.00003,
  'claude-3-5-sonnet': 0.000006,
  'claude-3-5-sonnet-latest': 0.000006,
  'claude-3-5-sonnet-20241022': 0.000006,
  'claude-3-5-sonnet-20240620': 0.000006,
  'claude-3-sonnet': 0.000006,
  'claude-3-sonnet-20240307': 0.000006,
  'claude-sonnet-3': 0.000006,
  'claude-sonnet-3-5': 0.000006,
  'claude-sonnet-3-7': 0.000006,
  'claude-sonnet-4': 0.000006,
  'claude-sonnet-4-20250514': 0.000006,
  'claude-3-5-haiku': 0.0000016,
  'claude-3-5-haiku-latest': 0.0000016,
  'claude-3-5-haiku-20241022': 0.0000016,
  'claude-3-haiku': 0.0000016,
  'claude-3-haiku-20240307': 0.0000016,
  'claude-haiku-3': 0.0000016,
  'claude-haiku-3-5': 0.0000016,
};

/** Hard-coded long-context (>200k input side) prices; the first entry is the default for any `[1m]` model. */
const LONG_CONTEXT: Record<string, { input: number; output: number }> = {
  'claude-sonnet-4-20250514[1m]': { input: 0.000006, output: 0.0000225 },
};
const LONG_CONTEXT_DEFAULT = LONG_CONTEXT['claude-sonnet-4-20250514[1m]']!;

export function ephemeral1hPrice(model: string): number {
  if (!model) return 0;
  const exact = EPHEMERAL_1H[model];
  if (exact) return exact;
  const lower = model.toLowerCase();
  if (lower.includes('opus')) return 0.00003;
  if (lower.includes('sonnet')) return 0.000006;
  if (lower.includes('haiku')) return 0.0000016;
  return 0;
}

/** The "no pricing" result of pricingService.calculateCost. */
export function zeroPricingCost(): PricingServiceCost {
  return {
    inputCost: 0,
    outputCost: 0,
    cacheCreateCost: 0,
    cacheReadCost: 0,
    ephemeral5mCost: 0,
    ephemeral1hCost: 0,
    totalCost: 0,
    hasPricing: false,
    isLongContextRequest: false,
    pricing: { input: 0, output: 0, cacheCreate: 0, cacheRead: 0, ephemeral1h: 0 },
  };
}

/** pricingService.calculateCost(usage, model). */
export function pricingServiceCost(table: PricingTable, usage: UsageTokens, model: string): PricingServiceCost {
  let isLongContextRequest = false;
  let longPrices: { input: number; output: number } | null = null;
  if (model && model.includes('[1m]')) {
    const inputSide = (usage.input_tokens || 0) + (usage.cache_creation_input_tokens || 0) + (usage.cache_read_input_tokens || 0);
    if (inputSide > 200000) {
      isLongContextRequest = true;
      longPrices = LONG_CONTEXT[model] ?? LONG_CONTEXT_DEFAULT;
    }
  }
  const pricing: ModelPrice | null = table.getModelPricing(model);
  if (!pricing && !longPrices) return zeroPricingCost();
  let inputCost: number;
  let outputCost: number;
  if (longPrices) {
    inputCost = (usage.input_tokens || 0) * longPrices.input;
    outputCost = (usage.output_tokens || 0) * longPrices.output;
  } else {
    inputCost = (usage.input_tokens || 0) * (pricing?.input_cost_per_token || 0);
    outputCost = (usage.output_tokens || 0) * (pricing?.output_cost_per_token || 0);
  }
  const cacheReadCost = (usage.cache_read_input_tokens || 0) * (pricing?.cache_read_input_token_cost || 0);
  let ephemeral5mCost = 0;
  let ephemeral1hCost = 0;
  let cacheCreateCost = 0;
  if (usage.cache_creation && typeof usage.cache_creation === 'object') {
    const e5 = usage.cache_creation.ephemeral_5m_input_tokens || 0;
    const e1 = usage.cache_creation.ephemeral_1h_input_tokens || 0;
    ephemeral5mCost = e5 * (pricing?.cache_creation_input_token_cost || 0);
    ephemeral1hCost = e1 * ephemeral1hPrice(model);
    cacheCreateCost = ephemeral5mCost + ephemeral1hCost;
  } else if (usage.cache_creation_input_tokens) {
    cacheCreateCost = (usage.cache_creation_input_tokens || 0) * (pricing?.cache_creation_input_token_cost || 0);
    ephemeral5mCost = cacheCreateCost;
  }
  return {
    inputCost,
    outputCost,
    cacheCreateCost,
    cacheReadCost,
    ephemeral5mCost,
    ephemeral1hCost,
    totalCost: inputCost + outputCost + cacheCreateCost + cacheReadCost,
    hasPricing: true,
    isLongContextRequest,
    pricing: {
      input: longPrices ? longPrices.input || 0 : pricing?.input_cost_per_token || 0,
      output: longPrices ? longPrices.output || 0 : pricing?.output_cost_per_token || 0,
      cacheCreate: pricing?.cache_creation_input_token_cost || 0,
      cacheRead: pricing?.cache_read_input_token_cost || 0,
      ephemeral1h: ephemeral1hPrice(model),
    },
  };
}

export interface CostCalculatorCosts {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
  total: number;
}

export interface CostCalculatorResult {
  costs: CostCalculatorCosts;
  isLongContextRequest: boolean;
}

/** Static per-million fallback prices of CostCalculator (input, output, cacheWrite, cacheRead). */
const STATIC_PER_MILLION: Record<string, [number, number, number, number]> = {
  'claude-3-5-sonnet-20241022': [3.0, 15.0, 3.75, 0.3],
  'claude-sonnet-4-20250514': [3.0, 15.0, 3.75, 0.3],
  'claude-sonnet-4-5-20250929': [3.0, 15.0, 3.75, 0.3],
  'claude-3-5-haiku-20241022': [0.25, 1.25, 0.3, 0.03],
  'claude-3-opus-20240229': [15.0, 75.0, 18.75, 1.5],
  'claude-opus-4-1-20250805': [15.0, 75.0, 18.75, 1.5],
  'claude-3-sonnet-20240229': [3.0, 15.0, 3.75, 0.3],
  'claude-3-haiku-20240307': [0.25, 1.25, 0.3, 0.03],
  unknown: [3.0, 15.0, 3.75, 0.3],
};

/** CostCalculator.calculateCost(usage, model = 'unknown'). */
export function costCalculatorCost(table: PricingTable, usage: UsageTokens, model = 'unknown'): CostCalculatorResult {
  if ((usage.cache_creation && typeof usage.cache_creation === 'object') || (model && model.includes('[1m]'))) {
    const r = pricingServiceCost(table, usage, model);
    return {
      costs: { input: r.inputCost, output: r.outputCost, cacheWrite: r.cacheCreateCost, cacheRead: r.cacheReadCost, total: r.totalCost },
      isLongContextRequest: r.isLongContextRequest || false,
    };
  }
  const inputTokens = usage.input_tokens || 0;
  const outputTokens = usage.output_tokens || 0;
  const cacheCreateTokens = usage.cache_creation_input_tokens || 0;
  const cacheReadTokens = usage.cache_read_input_tokens || 0;
  const pd = table.getModelPricing(model);
  let input: number;
  let output: number;
  let cacheWrite: number;
  let cacheRead: number;
  if (pd) {
    input = (pd.input_cost_per_token || 0) * 1000000;
    output = (pd.output_cost_per_token || 0) * 1000000;
    cacheRead = (pd.cache_read_input_token_cost || 0) * 1000000;
    cacheWrite = (pd.cache_creation_input_token_cost || 0) * 1000000;
    const isOpenAI = model.includes('gpt') || model.includes('o1') || pd.litellm_provider === 'openai';
    if (isOpenAI && !pd.cache_creation_input_token_cost && cacheCreateTokens > 0) cacheWrite = input;
  } else {
    [input, output, cacheWrite, cacheRead] = STATIC_PER_MILLION[model] ?? STATIC_PER_MILLION.unknown!;
  }
  const inputCost = (inputTokens / 1000000) * input;
  const outputCost = (outputTokens / 1000000) * output;
  const cacheWriteCost = (cacheCreateTokens / 1000000) * cacheWrite;
  const cacheReadCost = (cacheReadTokens / 1000000) * cacheRead;
  return {
    costs: { input: inputCost, output: outputCost, cacheWrite: cacheWriteCost, cacheRead: cacheReadCost, total: inputCost + outputCost + cacheWriteCost + cacheReadCost },
    isLongContextRequest: false,
  };
}
