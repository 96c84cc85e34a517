/**
 * "Is this a real Claude Code request?" (relay-claude.md §3): model is a string, system is an
 * array, and one entry's text equals a known Claude Code system prompt (whitespace-normalised).
 *
 * Known gap: the legacy scores against a 28-template catalogue (with __PLACEHOLDER__ parts);
 * only the short single-line templates are carried here. A body whose only Claude Code marker
 * is one of the long templates is treated as "not Claude Code" (it then gets the one-line
 * prompt prepended, which the legacy would not do).
 */
export const CLAUDE_CODE_PROMPT = "You are Claude Code, Anthropic's official CLI for Claude.";

const SHORT_TEMPLATES = [
  CLAUDE_CODE_PROMPT,
  "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
  "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
  'You are an assistant for performing a web search tool use',
].map(normalize);

function normalize(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function isRealClaudeCodeRequest(body: Record<string, unknown>): boolean {
  if (typeof body['model'] !== 'string') return false;
  const system = body['system'];
  if (!Array.isArray(system)) return false;
  for (const entry of system) {
    const text = entry && typeof entry === 'object' ? (entry as Record<string, unknown>)['text'] : undefined;
    if (typeof text !== 'string' || !text.trim()) continue;
    if (SHORT_TEMPLATES.includes(normalize(text))) return true;
  }
  return false;
}
