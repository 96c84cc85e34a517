/** Model helpers of the Claude scheduler (scheduling.md §2.2, §2.10). */

export function parseVendorPrefixedModel(model: unknown): { vendor: 'ccr' | null; baseModel: string } {
  if (!model || typeof model !== 'string') return { vendor: null, baseModel: typeof model === 'string' ? model : '' };
  const trimmed = model.trim();
  if (trimmed.toLowerCase().startsWith('ccr,')) {
    const parts = trimmed.split(',');
    if (parts.length >= 2) return { vendor: 'ccr', baseModel: parts.slice(1).join(',').trim() };
  }
  return { vendor: null, baseModel: trimmed };
}

const atLeast45 = (major: number, minor: number): boolean => major > 4 || (major === 4 && minor >= 5);

export function isOpus45OrNewer(model: string): boolean {
  const m = model.toLowerCase();
  if (!m.includes('opus')) return false;
  if (m.includes('opus-latest') || m.includes('opus_latest')) return true;
  const old = /claude[- ](\d+)(?:[.-](\d+))?[- ]opus/.exec(m);
  if (old) return atLeast45(Number.parseInt(old[1]!, 10), old[2] ? Number.parseInt(old[2], 10) : 0);
  const dot = /opus[- ]?(\d+)\.(\d+)/.exec(m);
  if (dot) return atLeast45(Number.parseInt(dot[1]!, 10), Number.parseInt(dot[2]!, 10));
  const after = m.slice(m.indexOf('opus') + 4);
  const v = /^[- ](\d+)(?:[- ](\d{1,2})(?=[- ]\d{8}|$))?/.exec(after);
  if (v) return atLeast45(Number.parseInt(v[1]!, 10), v[2] ? Number.parseInt(v[2], 10) : 0);
  return false;
}

function isProAccount(info: Record<string, unknown>): boolean {
  if (info['hasClaudePro'] === true && info['hasClaudeMax'] !== true) return true;
  return info['accountType'] === 'claude_pro';
}

/** Official OAuth account: Claude-family model, and Opus limited by the subscription. */
export function officialSupportsModel(subscriptionInfo: string | undefined, model: string | null): boolean {
  if (!model) return true;
  const claudeFamily =
    model.startsWith('claude-') || model.includes('claude') || model.includes('sonnet') || model.includes('opus') || model.includes('haiku');
  if (!claudeFamily) return false;
  if (model.toLowerCase().includes('opus') && subscriptionInfo) {
    try {
      const info = JSON.parse(subscriptionInfo) as Record<string, unknown>;
      if (info['accountType'] === 'free') return false;
      if (isProAccount(info)) return isOpus45OrNewer(model);
    } catch {
      // unparsable → treated as Max (supported)
    }
  }
  return true;
}

/** Console / CCR: array → exact includes; object → exact or case-insensitive key. Empty → all. */
export function consoleSupportsModel(supportedModels: unknown, model: string | null): boolean {
  if (!model || !supportedModels) return true;
  if (Array.isArray(supportedModels)) return supportedModels.length === 0 || supportedModels.includes(model);
  if (typeof supportedModels === 'object') {
    const keys = Object.keys(supportedModels);
    if (keys.length === 0) return true;
    if (Object.prototype.hasOwnProperty.call(supportedModels, model)) return true;
    const lower = model.toLowerCase();
    return keys.some((k) => k.toLowerCase() === lower);
  }
  return true;
}

/** `new Date(lastUsedAt || 0)` ordering key; `'0'` parses as 2000-01-01 local time like V8. */
export function lastUsedOrderKey(lastUsedAt: string): number {
  return new Date(lastUsedAt || 0).getTime();
}
