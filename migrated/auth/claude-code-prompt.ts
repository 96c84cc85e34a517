/**
 * "Is every system entry a Claude Code system prompt?" — the check the legacy's claude_code
 * client validator makes on /messages paths (src/validators/clients/claudeCodeValidator.js
 * hasClaudeCodeSystemPrompt, scored with src/utils/contents.js bestSimilarityByTemplates).
 *
 * The legacy scores each entry with the Dice coefficient of character bigrams (whitespace
 * removed) against ~28 prompt templates extracted from the Claude Code CLI, and requires every
 * entry to reach SYSTEM_PROMPT_THRESHOLD (default 0.5). We carry the short one-line templates
 * verbatim (they are the identity lines Claude Code sends) and recognise the long templates by
 * their fixed opening sentence and a minimum length instead of scoring against their full text.
 * Recorded in DEVIATIONS.md: a system entry that resembles a long template (≥ 0.5) without its
 * opening line is rejected here and accepted by the legacy, and vice versa for an entry that has
 * the opening and the length but otherwise different text.
 */

const SHORT_TEMPLATES = [
  "You are Claude Code, Anthropic's official CLI for Claude.",
  "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
  "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
  'You are a helpful AI assistant tasked with summarizing conversations.',
  'You are an assistant for performing a web search tool use',
  "You are a file search specialist for Claude Code, Anthropic's official CLI for Claude.",
  'Summarize this coding conversation in under 50 characters.\nCapture the main task, key files, problems addressed, and current status.',
  'Respond with the title for the conversation and nothing else.',
];

/**
 * Long templates, recognised by their fixed opening plus a minimum length: a Dice score of 0.5
 * against a template of N non-space characters needs at least ~N/3 characters, so a bare opening
 * sentence does not pass (the legacy rejects it too). `minChars` = the shortest matching template's
 * non-space length / 3.
 */
const LONG_TEMPLATES: ReadonlyArray<{ opening: string; minChars: number }> = [
  { opening: 'You are an interactive CLI tool that helps users', minChars: 300 },
  { opening: "You are an agent for Claude Code, Anthropic's official CLI for Claude", minChars: 383 },
  { opening: 'Analyze if this message indicates a new conversation topic.', minChars: 83 },
];

/** string-similarity's compareTwoStrings: Dice coefficient over bigram multisets, whitespace removed. */
export function diceCoefficient(a: string, b: string): number {
  const first = a.replace(/\s+/g, '');
  const second = b.replace(/\s+/g, '');
  if (first === second) return 1;
  if (first.length < 2 || second.length < 2) return 0;
  const bigrams = new Map<string, number>();
  for (let i = 0; i < first.length - 1; i++) {
    const bg = first.substring(i, i + 2);
    bigrams.set(bg, (bigrams.get(bg) ?? 0) + 1);
  }
  let intersection = 0;
  for (let i = 0; i < second.length - 1; i++) {
    const bg = second.substring(i, i + 2);
    const count = bigrams.get(bg) ?? 0;
    if (count > 0) {
      bigrams.set(bg, count - 1);
      intersection++;
    }
  }
  return (2 * intersection) / (first.length + second.length - 2);
}

const normalize = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Best score of one system entry's text against the carried templates. */
export function claudeCodePromptScore(text: string): number {
  const value = normalize(text);
  if (!value) return 0;
  const compactLength = value.replace(/\s+/g, '').length;
  for (const t of LONG_TEMPLATES) if (value.startsWith(t.opening) && compactLength >= t.minChars) return 1;
  let best = 0;
  for (const t of SHORT_TEMPLATES) best = Math.max(best, diceCoefficient(value, normalize(t)));
  return best;
}


/** hasClaudeCodeSystemPrompt: model is a string, system an array, every entry's text scores ≥ threshold. */
export function hasClaudeCodeSystemPrompt(body: unknown, threshold: number): boolean {
  if (!body || typeof body !== 'object') return false;
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || !b.model) return false;
  if (!Array.isArray(b.system)) return false;
  for (const entry of b.system) {
    const text = entry && typeof entry === 'object' && typeof (entry as Record<string, unknown>).text === 'string' ? ((entry as Record<string, unknown>).text as string) : '';
    if (claudeCodePromptScore(text) < threshold) return false;
  }
  return true;
}
