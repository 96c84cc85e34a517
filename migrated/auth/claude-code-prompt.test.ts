import { describe, expect, it } from 'vitest';
import { claudeCodePromptScore, diceCoefficient, hasClaudeCodeSystemPrompt } from './claude-code-prompt.js';
import { CLAUDE_CODE_TEMPLATES } from './claude-code-templates.js';

describe('Claude Code system-prompt score', () => {
  it('Dice coefficient of bigram multisets, whitespace ignored (string-similarity semantics)', () => {
    expect(diceCoefficient('night', 'nacht')).toBeCloseTo(0.25, 10);
    expect(diceCoefficient('a b', 'ab')).toBe(1);
    expect(diceCoefficient('a', 'b')).toBe(0);
    expect(diceCoefficient('aaaa', 'aa')).toBeCloseTo(0.5, 10);
  });

  // Scores the legacy's bestSimilarityByTemplates gives these texts (measured by running its code).
  const legacyScores: Array<[string, number]> = [
    ["You are Claude Code, Anthropic's official CLI for Claude.", 1],
    ["You are Claude Code, Anthropic's official CLI for Claude. Please help.", 0.897],
    ['You are a helpful assistant.', 0.512],
    ['You are a helpful AI assistant.', 0.571],
    ['You are an assistant.', 0.508],
    ['Summarize this conversation.', 0.452],
    ['You are Claude, an AI assistant made by Anthropic.', 0.472],
    ['You are a pirate. Talk like one at all times, matey.', 0.24],
    ['Respond with the title for the conversation and nothing else.', 1],
  ];
  for (const [text, score] of legacyScores) {
    it(`scores ${JSON.stringify(text.slice(0, 40))} like the legacy (${score})`, () => {
      expect(Number(claudeCodePromptScore(text).toFixed(3))).toBe(score);
    });
  }

  // Catalogue templates and near-misses; expected values are the legacy scorer's own output
  // (contents.js bestSimilarityByTemplates with string-similarity 4, run on the same strings), bit for bit.
  const t = Object.fromEntries(CLAUDE_CODE_TEMPLATES) as Record<string, string>;
  const fill = (text: string, f: string) => text.split('__PLACEHOLDER__').join(f);
  const catalogue: Array<[string, string, number]> = [
    ['main prompt, placeholders filled: its fixed parts in order → 1', fill(t['claudeOtherSystemPrompt2']!, 'XYZ'), 1],
    ['main prompt without its "Proactiveness" section', fill(t['claudeOtherSystemPrompt2']!, 'XYZ').replace(/# Proactiveness[\s\S]*?# Professional objectivity/, '# Professional objectivity'), 0.9791677489739726],
    ['first 4000 characters of the main prompt (best: another template)', fill(t['claudeOtherSystemPrompt2']!, 'XYZ').slice(0, 4000), 0.6665768920010773],
    ['bare opening sentence of the main prompt', 'You are an interactive CLI tool that helps users with software engineering tasks.', 0.4566929133858268],
    ['topic prompt with one word changed', t['haikuSystemPrompt']!.replace('2-3 word', 'three word'), 0.98],
    ['trailing-placeholder template + any policy text: cut at the anchor → 1', fill(t['commandInjectionPrompt2']!, '\n<policy_spec>anything at all here, long and different</policy_spec>'), 1],
    ['only the first sentence of that template', 'Your task is to process Bash commands that an AI coding agent wants to run.', 0.6703910614525139],
    ['explanatory output style, one word replaced throughout', t['outputStyleExplanatoryPrompt']!.replace(/educational/g, 'instructive'), 0.9446952595936795],
  ];
  for (const [name, text, score] of catalogue) {
    it(`${name}: ${score}`, () => {
      expect(claudeCodePromptScore(text)).toBe(score);
    });
  }

  it('each of the 28 catalogue templates scores 1 against itself; whitespace runs do not matter', () => {
    expect(CLAUDE_CODE_TEMPLATES).toHaveLength(28);
    for (const [, text] of CLAUDE_CODE_TEMPLATES) {
      expect(claudeCodePromptScore(text)).toBe(1);
      expect(claudeCodePromptScore(text.replace(/\s+/g, '  \t'))).toBe(1);
    }
    expect(claudeCodePromptScore(undefined)).toBe(0);
    expect(claudeCodePromptScore('  ')).toBe(0);
  });

  it('every entry must pass; model must be a string and system an array', () => {
    const good = { model: 'm', system: [{ text: "You are Claude Code, Anthropic's official CLI for Claude." }] };
    expect(hasClaudeCodeSystemPrompt(good, 0.5)).toBe(true);
    expect(hasClaudeCodeSystemPrompt({ ...good, system: [...good.system, { text: 'You are a pirate.' }] }, 0.5)).toBe(false);
    expect(hasClaudeCodeSystemPrompt({ ...good, model: 1 }, 0.5)).toBe(false);
    expect(hasClaudeCodeSystemPrompt({ ...good, system: 'x' }, 0.5)).toBe(false);
    expect(hasClaudeCodeSystemPrompt({ model: 'm', system: [] }, 0.5)).toBe(true);
  });
});
