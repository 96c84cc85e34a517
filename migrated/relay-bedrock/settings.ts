/**
 * The legacy Bedrock relay's process settings (relay-openai-gemini-bedrock.md §D), read once
 * when the relay's client cache is created. They are not in gateway/config/env.ts yet (the lead
 * may move them there); read from the environment with the legacy's defaults.
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

export function bedrockSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): BedrockSettings {
  const defaultRegion = env['AWS_REGION'] || 'us-east-1';
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  return {
    defaultRegion,
    smallFastModelRegion: env['ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION'] || defaultRegion,
    defaultModel: env['ANTHROPIC_MODEL'] || 'us.anthropic.claude-sonnet-4-20250514-v1:0',
    maxOutputTokens: Number.parseInt(env['CLAUDE_CODE_MAX_OUTPUT_TOKENS'] ?? '', 10) || 4096,
    envCredentials: id && secret ? { accessKeyId: id, secretAccessKey: secret, sessionToken: env['AWS_SESSION_TOKEN'] || undefined } : null,
  };
}
