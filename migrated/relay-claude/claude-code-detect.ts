import { claudeCodePromptScore } from '../auth/claude-code-prompt.js';

/**
 * "Is this a real Claude Code request?" (relay-claude.md §3, ClaudeCodeValidator
 * includesClaudeCodeSystemPrompt(body, 1)): model is a string, system is an array, and at least
 * one entry's text scores ≥ 1 against the Claude Code prompt templates — the legacy's own scoring
 * and catalogue (migrated/auth/claude-code-prompt.ts).
 */
export const CLAUDE_CODE_PROMPT = "You are Claude Code, Anthropic's official CLI for Claude.";

export function isRealClaudeCodeRequest(body: Record<string, unknown>): boolean {
  if (typeof body['model'] !== 'string') return false;
  const system = body['system'];
  if (!Array.isArray(system)) return false;
  for (const entry of system) {
    const text = entry && typeof entry === 'object' ? (entry as Record<string, unknown>)['text'] : undefined;
    if (typeof text === 'string' && claudeCodePromptScore(text) >= 1) return true;
  }
  return false;
}
