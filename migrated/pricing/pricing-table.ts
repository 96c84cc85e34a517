import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Logger } from 'pino';

/**
 * The legacy's price table (LiteLLM `model_prices_and_context_window.json`, src/services/
 * pricingService.js at b565610a). Parsed with JSON.parse so that entry order — which decides
 * fuzzy matches — is the same as the legacy's. Re-read when the file's mtime changes
 * (`refreshIfChanged`, or `watch(intervalMs)` like the legacy's 60 s poll). A file that fails
 * to parse keeps the previous table (and is logged).
 *
 * Only these fields are used: input_cost_per_token, output_cost_per_token,
 * cache_creation_input_token_cost, cache_read_input_token_cost, litellm_provider.
 */

export interface ModelPrice {
  input_cost_per_token?: number;
  output_cost_per_token?: number;
  cache_creation_input_token_cost?: number;
  cache_read_input_token_cost?: number;
  litellm_provider?: string;
  [other: string]: unknown;
}

export type PriceData = Record<string, ModelPrice>;

export class PricingTable {
  private data: PriceData | null = null;
  private mtimeMs = -1;
  private normalizedKeys: Array<[string, ModelPrice]> = [];

  constructor(
    readonly file: string,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  /** A table from an in-memory document (tests, benchmarks). */
  static fromData(data: PriceData): PricingTable {
    const t = new PricingTable('<memory>');
    t.setData(data);
    return t;
  }

  /**
   * getModelPricing's answers for names that are not a key of the table (the fuzzy scan walks
   * every entry): a pure function of the table and the name, so kept until the table changes.
   * Bounded (names come from requests): cleared when full.
   */
  private inexact = new Map<string, ModelPrice | null>();

  private setData(data: PriceData): void {
    this.data = data;
    this.normalizedKeys = Object.entries(data).map(([k, v]) => [k.toLowerCase().replace(/[_-]/g, ''), v]);
    this.inexact = new Map();
  }

  /** Load synchronously (start-up). Throws when the file is missing or not JSON. */
  loadSync(): this {
    const st = statSync(this.file);
    this.setData(JSON.parse(readFileSync(this.file, 'utf8')) as PriceData);
    this.mtimeMs = st.mtimeMs;
    return this;
  }

  /** Re-read when the mtime changed; returns true when a new table was loaded. */
  async refreshIfChanged(): Promise<boolean> {
    if (this.file === '<memory>') return false;
    try {
      const st = await stat(this.file);
      if (st.mtimeMs === this.mtimeMs && this.data) return false;
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as PriceData;
      this.setData(parsed);
      this.mtimeMs = st.mtimeMs;
      return true;
    } catch (err) {
      this.log?.warn({ file: this.file, err: (err as Error).message }, 'pricing file not reloaded; keeping the previous table');
      return false;
    }
  }

  /** Poll the mtime every intervalMs (timer unref'd); returns a stop function. */
  watch(intervalMs = 60_000): () => void {
    const t = setInterval(() => void this.refreshIfChanged(), intervalMs);
    t.unref();
    return () => clearInterval(t);
  }

  /**
   * The entry under exactly this key (no fuzzy matching), e.g. for the legacy's max_tokens clamp,
   * which reads `pricingData[model]` directly. Reflects refreshes.
   */
  entry(modelName: string): ModelPrice | null {
    const data = this.data;
    if (!data || !modelName || !Object.prototype.hasOwnProperty.call(data, modelName)) return null;
    return data[modelName] ?? null;
  }

  get loaded(): boolean {
    return this.data !== null;
  }

  /**
   * pricingService.getModelPricing: exact; gpt-5-codex -> gpt-5; Bedrock region prefix
   * (us./eu./apac.) stripped; fuzzy (lower-case, `_`/`-` removed, containment either way,
   * first entry in document order); Bedrock core-name containment; else null.
   */
  getModelPricing(modelName: string): ModelPrice | null {
    const data = this.data;
    if (!data || !modelName) return null;
    if (Object.prototype.hasOwnProperty.call(data, modelName) && data[modelName]) return data[modelName]!;
    let found = this.inexact.get(modelName);
    if (found === undefined) {
      found = this.lookupInexact(data, modelName);
      if (this.inexact.size >= 1024) this.inexact.clear();
      this.inexact.set(modelName, found);
    }
    return found;
  }

  /** getModelPricing past the exact match. */
  private lookupInexact(data: PriceData, modelName: string): ModelPrice | null {
    const own = Object.prototype.hasOwnProperty;
    if (modelName === 'gpt-5-codex' && !data['gpt-5-codex'] && data['gpt-5']) return data['gpt-5'];
    if (modelName.includes('.anthropic.') || modelName.includes('.claude')) {
      const withoutRegion = modelName.replace(/^(us|eu|apac)\./, '');
      if (own.call(data, withoutRegion) && data[withoutRegion]) return data[withoutRegion]!;
    }
    const n = modelName.toLowerCase().replace(/[_-]/g, '');
    for (const [nk, v] of this.normalizedKeys) if (nk.includes(n) || n.includes(nk)) return v;
    if (modelName.includes('anthropic.claude')) {
      const core = modelName.replace(/^(us|eu|apac)\./, '').replace('anthropic.', '');
      for (const [k, v] of Object.entries(data)) if (k.includes(core) || k.replace('anthropic.', '').includes(core)) return v;
    }
    return null;
  }
}
