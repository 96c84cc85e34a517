import type { GatewayConfig } from '../../gateway/config/env.js';

/**
 * The legacy Bedrock relay's process settings (relay-openai-gemini-bedrock.md §D), taken from the
 * gateway configuration (gateway/config/env.ts parses the legacy's variables with its defaults).
 */
export interface BedrockSettings {
  /** AWS_REGION || 'us-east-1' (config.bedrock.defaultRegion is the same env var in the example config). */
  defaultRegion: string;
  /** ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION || defaultRegion: for model ids containing `haiku`. */
  smallFastModelRegion: string;
  /** ANTHROPIC_MODEL || 'us.anthropic.claude-sonnet-4-20250514-v1:0'. */
  defaultModel: string;
  /** parseInt(CLAUDE_CODE_MAX_OUTPUT_TOKENS) || 4096. */
  maxOutputTokens: number;
  /** AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN): used when the account has no credentials. */
  envCredentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | null;
}

export type BedrockConfig = Pick<
  GatewayConfig,
  'AWS_REGION' | 'ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION' | 'ANTHROPIC_MODEL' | 'CLAUDE_CODE_MAX_OUTPUT_TOKENS' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY' | 'AWS_SESSION_TOKEN'
>;

export function bedrockSettingsFromConfig(config: BedrockConfig): BedrockSettings {
  const id = config.AWS_ACCESS_KEY_ID;
  const secret = config.AWS_SECRET_ACCESS_KEY;
  return {
    defaultRegion: config.AWS_REGION,
    smallFastModelRegion: config.ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION || config.AWS_REGION,
    defaultModel: config.ANTHROPIC_MODEL,
    maxOutputTokens: config.CLAUDE_CODE_MAX_OUTPUT_TOKENS,
    envCredentials: id && secret ? { accessKeyId: id, secretAccessKey: secret, sessionToken: config.AWS_SESSION_TOKEN || undefined } : null,
  };
}
