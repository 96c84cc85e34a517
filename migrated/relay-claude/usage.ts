/**
 * Usage extraction from Anthropic SSE events (relay-claude.md §4.6 step 3–4 official,
 * §5.4 console). Both collectors are fed parsed `data:` payloads in order and report at most once.
 */
export interface CacheCreation {
  ephemeral_5m_input_tokens: number;
  ephemeral_1h_input_tokens: number;
}

export interface StreamUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  model: string | null;
  cache_creation?: CacheCreation;
}

interface Partial {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  model?: string | null;
  cache_creation?: CacheCreation;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null;
const num = (v: unknown): number => (typeof v === 'number' && v ? v : 0);

function cacheCreationOf(usage: Json): CacheCreation | undefined {
  const cc = usage['cache_creation'];
  if (!isObject(cc)) return undefined;
  return {
    ephemeral_5m_input_tokens: num(cc['ephemeral_5m_input_tokens']),
    ephemeral_1h_input_tokens: num(cc['ephemeral_1h_input_tokens']),
  };
}

const RATE_LIMIT_TEXT = "exceed your account's rate limit";

/** Official accounts: records per message_start/message_delta pair, summed at upstream end. */
export class OfficialUsageCollector {
  private readonly records: Partial[] = [];
  private current: Partial = {};
  rateLimitDetected = false;

  constructor(private readonly requestModel: string | null) {}

  feed(event: unknown): void {
    if (!isObject(event)) return;
    const type = event['type'];
    if (type === 'message_start' && isObject(event['message']) && isObject(event['message']['usage'])) {
      const message = event['message'];
      const usage = message['usage'] as Json;
      if (this.current.input_tokens !== undefined && this.current.output_tokens !== undefined) {
        this.records.push({ ...this.current });
        this.current = {};
      }
      this.current.input_tokens = num(usage['input_tokens']);
      this.current.cache_creation_input_tokens = num(usage['cache_creation_input_tokens']);
      this.current.cache_read_input_tokens = num(usage['cache_read_input_tokens']);
      this.current.model = (message['model'] as string | undefined) ?? null;
      const cc = cacheCreationOf(usage);
      if (cc) this.current.cache_creation = cc;
    } else if (type === 'message_delta' && isObject(event['usage']) && event['usage']['output_tokens'] !== undefined) {
      this.current.output_tokens = num(event['usage']['output_tokens']);
      if (this.current.input_tokens !== undefined) {
        this.records.push({ ...this.current });
        this.current = {};
      }
    } else if (type === 'error' && isObject(event['error'])) {
      const message = event['error']['message'];
      if (typeof message === 'string' && message.toLowerCase().includes(RATE_LIMIT_TEXT)) this.rateLimitDetected = true;
    }
  }

  /** Called at upstream end (only then: a disconnect before end records nothing in the legacy). */
  finish(): StreamUsage | null {
    if (this.current.input_tokens !== undefined) {
      if (this.current.output_tokens === undefined) this.current.output_tokens = 0;
      this.records.push(this.current);
      this.current = {};
    }
    if (this.records.length === 0) return null;
    const total: StreamUsage = {
      input_tokens: 0,
      output_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      model: this.records[this.records.length - 1]!.model || this.requestModel,
    };
    let m5 = 0;
    let h1 = 0;
    for (const r of this.records) {
      total.input_tokens += r.input_tokens ?? 0;
      total.output_tokens += r.output_tokens ?? 0;
      total.cache_creation_input_tokens += r.cache_creation_input_tokens ?? 0;
      total.cache_read_input_tokens += r.cache_read_input_tokens ?? 0;
      if (r.cache_creation) {
        m5 += r.cache_creation.ephemeral_5m_input_tokens;
        h1 += r.cache_creation.ephemeral_1h_input_tokens;
      }
    }
    if (m5 > 0 || h1 > 0) total.cache_creation = { ephemeral_5m_input_tokens: m5, ephemeral_1h_input_tokens: h1 };
    return total;
  }
}

/** Console accounts: reports at the first message_delta with input and output known, else at end. */
export class ConsoleUsageCollector {
  private readonly data: Partial = {};
  private reported = false;

  constructor(private readonly defaultModel: string | null) {}

  /** Returns usage when this event completes it (once). */
  feed(event: unknown): StreamUsage | null {
    if (!isObject(event)) return null;
    const type = event['type'];
    const d = this.data;
    if (type === 'message_start' && isObject(event['message']) && isObject(event['message']['usage'])) {
      const usage = event['message']['usage'] as Json;
      d.input_tokens = num(usage['input_tokens']);
      d.cache_creation_input_tokens = num(usage['cache_creation_input_tokens']);
      d.cache_read_input_tokens = num(usage['cache_read_input_tokens']);
      d.model = (event['message']['model'] as string | undefined) ?? null;
      const cc = cacheCreationOf(usage);
      if (cc) d.cache_creation = cc;
    }
    if (type === 'message_delta' && isObject(event['usage'])) {
      const usage = event['usage'];
      if (usage['output_tokens'] !== undefined) d.output_tokens = num(usage['output_tokens']);
      if (usage['input_tokens'] !== undefined) d.input_tokens = num(usage['input_tokens']);
      if (usage['cache_creation_input_tokens'] !== undefined) d.cache_creation_input_tokens = num(usage['cache_creation_input_tokens']);
      if (usage['cache_read_input_tokens'] !== undefined) d.cache_read_input_tokens = num(usage['cache_read_input_tokens']);
      const cc = cacheCreationOf(usage);
      if (cc) d.cache_creation = cc;
      if (d.input_tokens !== undefined && d.output_tokens !== undefined && !this.reported) {
        if (!d.model) d.model = this.defaultModel;
        this.reported = true;
        return this.snapshot();
      }
    }
    return null;
  }

  /** At upstream end: the fallback report when tokens were seen but never completed. */
  finish(): StreamUsage | null {
    if (this.reported) return null;
    const d = this.data;
    if (d.input_tokens === undefined && d.output_tokens === undefined) return null;
    if (d.input_tokens === undefined) d.input_tokens = 0;
    if (d.output_tokens === undefined) d.output_tokens = 0;
    if (!d.model) d.model = this.defaultModel;
    this.reported = true;
    return this.snapshot();
  }

  private snapshot(): StreamUsage {
    const d = this.data;
    const out: StreamUsage = {
      input_tokens: d.input_tokens ?? 0,
      output_tokens: d.output_tokens ?? 0,
      cache_creation_input_tokens: d.cache_creation_input_tokens ?? 0,
      cache_read_input_tokens: d.cache_read_input_tokens ?? 0,
      model: d.model ?? null,
    };
    if (d.cache_creation) out.cache_creation = { ...d.cache_creation };
    return out;
  }
}

/**
 * What api.js hands to recordUsage for a stream: when a cache_creation object exists its
 * 5m+1h sum replaces cache_creation_input_tokens (relay-claude.md §2.5).
 */
export function usageForRecording(u: StreamUsage): StreamUsage {
  if (!u.cache_creation) return u;
  return {
    ...u,
    cache_creation_input_tokens: u.cache_creation.ephemeral_5m_input_tokens + u.cache_creation.ephemeral_1h_input_tokens,
  };
}
