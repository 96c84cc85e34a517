import type { MigratedModuleFactory } from './module.js';

/**
 * The registry of migrated modules the routing table may name (`"module": "<name>"`).
 * Each entry lives in its own folder under migrated/; add a line here when a module exists.
 * Loaded lazily so a module's dependencies are only imported when a route uses it.
 */
export const migratedModules: Record<string, () => Promise<MigratedModuleFactory>> = {
  health: async () => (await import('./routes/health/index.js')).createHealthModule,
  'claude-health': async () => (await import('./routes/claude-health/index.js')).createClaudeHealthModule,
  models: async () => (await import('./routes/models/index.js')).createModelsModule,
  'key-info': async () => (await import('./routes/key-info/index.js')).createKeyInfoModule,
  'not-found': async () => (await import('./routes/not-found/index.js')).createNotFoundModule,
  'claude-messages': async () => (await import('./relay-claude/messages-module.js')).createClaudeMessagesModule,
  'claude-count-tokens': async () => (await import('./relay-claude/count-tokens-module.js')).createClaudeCountTokensModule,
  'openai-claude-chat': async () => (await import('./relay-claude/openai-chat-module.js')).createOpenAiClaudeChatModule,
  'api-stats': async () => (await import('./routes/api-stats/index.js')).createApiStatsModule,
};

export function knownModuleNames(): string[] {
  return Object.keys(migratedModules).sort();
}

export async function loadModuleFactory(name: string): Promise<MigratedModuleFactory> {
  const loader = migratedModules[name];
  if (!loader) throw new Error(`unknown migrated module "${name}" (known: ${knownModuleNames().join(', ') || 'none'})`);
  return loader();
}
