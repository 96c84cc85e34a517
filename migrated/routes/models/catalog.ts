/**
 * The model lists the legacy serves without asking any upstream (http-surface.md §7.6).
 */

/** modelService.getDefaultModels(): provider → ids, in the service's order. */
const DEFAULT_MODELS: ReadonlyArray<{ provider: string; ids: readonly string[] }> = [
  {
    provider: 'anthropic',
    ids: [
      'claude-opus-4-5-20251101',
      'claude-haiku-4-5-20251001',
      'claude-sonnet-4-5-20250929',
      'claude-opus-4-1-20250805',
      'claude-sonnet-4-20250514',
      'claude-opus-4-20250514',
      'claude-3-7-sonnet-20250219',
      'claude-3-5-sonnet-20241022',
      'claude-3-5-haiku-20241022',
      'claude-3-opus-20240229',
      'claude-3-haiku-20240307',
    ],
  },
  { provider: 'openai', ids: ['gpt-5.1-2025-11-13', 'gpt-5.1-codex-mini', 'gpt-5.1-codex', 'gpt-5.1-codex-max', 'gpt-5-2025-08-07', 'gpt-5-codex'] },
  { provider: 'google', ids: ['gemini-2.5-pro', 'gemini-3-pro-preview', 'gemini-2.5-flash'] },
];

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** The id order of getAllModels(): by owned_by, then id, both with localeCompare. */
const SORTED: ReadonlyArray<{ id: string; owned_by: string }> = DEFAULT_MODELS.flatMap((g) => g.ids.map((id) => ({ id, owned_by: g.provider }))).sort(
  (a, b) => (a.owned_by !== b.owned_by ? a.owned_by.localeCompare(b.owned_by) : a.id.localeCompare(b.id)),
);

/** modelService.getAllModels(): every default model, `created` = now in seconds. */
export function allModels(nowMs: number): ModelEntry[] {
  const created = Math.floor(nowMs / 1000);
  return SORTED.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.owned_by }));
}

/** GET /openai/claude/v1/models: two fixed entries. */
export function openaiClaudeModels(): ModelEntry[] {
  return [
    { id: 'claude-opus-4-20250514', object: 'model', created: 1736726400, owned_by: 'anthropic' },
    { id: 'claude-sonnet-4-20250514', object: 'model', created: 1736726400, owned_by: 'anthropic' },
  ];
}

/** GET /droid/* /v1/models: three entries, `created` in milliseconds. */
export function droidModels(nowMs: number): ModelEntry[] {
  return [
    { id: 'claude-opus-4-1-20250805', object: 'model', created: nowMs, owned_by: 'anthropic' },
    { id: 'claude-sonnet-4-5-20250929', object: 'model', created: nowMs, owned_by: 'anthropic' },
    { id: 'gpt-5-2025-08-07', object: 'model', created: nowMs, owned_by: 'openai' },
  ];
}

const AZURE_MODELS = [
  'gpt-4',
  'gpt-4-turbo',
  'gpt-4o',
  'gpt-4o-mini',
  'gpt-5',
  'gpt-5-mini',
  'gpt-35-turbo',
  'gpt-35-turbo-16k',
  'codex-mini',
  'text-embedding-ada-002',
  'text-embedding-3-small',
  'text-embedding-3-large',
];

/** GET /azure/models: `azure/<id>`, `created` in milliseconds. */
export function azureModels(nowMs: number): ModelEntry[] {
  return AZURE_MODELS.map((m) => ({ id: `azure/${m}`, object: 'model', created: nowMs, owned_by: 'azure-openai' }));
}
