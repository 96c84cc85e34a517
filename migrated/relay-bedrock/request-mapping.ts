import type { BedrockSettings } from './settings.js';

/**
 * Pure request side of the Bedrock relay (relay-openai-gemini-bedrock.md §D.1–D.3):
 * model choice, Claude → Bedrock model id, region, and the InvokeModel payload.
 */

const SONNET_4 = 'us.anthropic.claude-sonnet-4-20250514-v1:0';
const OPUS_41 = 'us.anthropic.claude-opus-4-1-20250805-v1:0';
const SONNET_37 = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';
const SONNET_35 = 'us.anthropic.claude-3-5-sonnet-20241022-v2:0';
const HAIKU_35 = 'us.anthropic.claude-3-5-haiku-20241022-v1:0';
const SONNET_3 = 'us.anthropic.claude-3-sonnet-20240229-v1:0';
const HAIKU_3 = 'us.anthropic.claude-3-haiku-20240307-v1:0';

/** Exact-name table; anything else passes unchanged. */
const BEDROCK_IDS: ReadonlyMap<string, string> = new Map([
  ['claude-sonnet-4', SONNET_4],
  ['claude-sonnet-4-20250514', SONNET_4],
  ['claude-opus-4', OPUS_41],
  ['claude-opus-4-1', OPUS_41],
  ['claude-opus-4-1-20250805', OPUS_41],
  ['claude-3-7-sonnet', SONNET_37],
  ['claude-3-7-sonnet-20250219', SONNET_37],
  ['claude-3-5-sonnet', SONNET_35],
  ['claude-3-5-sonnet-20241022', SONNET_35],
  ['claude-3-5-haiku', HAIKU_35],
  ['claude-3-5-haiku-20241022', HAIKU_35],
  ['claude-3-sonnet', SONNET_3],
  ['claude-3-sonnet-20240229', SONNET_3],
  ['claude-3-haiku', HAIKU_3],
  ['claude-3-haiku-20240307', HAIKU_3],
]);

/** Ids already in Bedrock form (`<region>.anthropic.…` or `anthropic.…`) are kept. */
export function toBedrockModelId(name: string): string {
  if (name.includes('.anthropic.') || name.startsWith('anthropic.')) return name;
  return BEDROCK_IDS.get(name) ?? name;
}

/** The account's defaultModel wins over the request's model; then ANTHROPIC_MODEL. */
export function selectModelId(body: Record<string, unknown>, account: Record<string, unknown>, settings: BedrockSettings): string {
  const fromAccount = account['defaultModel'];
  const fromBody = body['model'];
  const chosen = fromAccount ? String(fromAccount) : fromBody ? String(fromBody) : settings.defaultModel;
  return toBedrockModelId(chosen);
}

export function selectRegion(modelId: string, account: Record<string, unknown>, settings: BedrockSettings): string {
  if (account['region']) return String(account['region']);
  return modelId.includes('haiku') ? settings.smallFastModelRegion : settings.defaultRegion;
}

/**
 * The InvokeModel body, keys in the legacy's order: anthropic_version, max_tokens (capped at
 * maxOutputTokens), messages, then system / temperature / top_p / top_k / stop_sequences /
 * tools / tool_choice when present (truthy for system, stop_sequences, tools, tool_choice;
 * defined for the numbers). Everything else is dropped.
 */
export function bedrockPayload(body: Record<string, unknown>, maxOutputTokens: number): Record<string, unknown> {
  const requested = body['max_tokens'];
  const out: Record<string, unknown> = {
    anthropic_version: 'bedrock-2023-05-31',
    max_tokens: Math.min((requested as number) || maxOutputTokens, maxOutputTokens),
    messages: body['messages'] || [],
  };
  if (body['system']) out['system'] = body['system'];
  for (const k of ['temperature', 'top_p', 'top_k'] as const) if (body[k] !== undefined) out[k] = body[k];
  for (const k of ['stop_sequences', 'tools', 'tool_choice'] as const) if (body[k]) out[k] = body[k];
  return out;
}
