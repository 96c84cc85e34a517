import { describe, expect, it } from 'vitest';
import { claudeCodePromptScore, diceCoefficient, hasClaudeCodeSystemPrompt } from './claude-code-prompt.js';

describe('Claude Code system-prompt score', () => {
  it('Dice coefficient of bigram multisets, whitespace ignored (string-similarity semantics)', () => {
    expect(diceCoefficient('night', 'nacht')).toBeCloseTo(0.25, 10);
    expect(diceCoefficient('a b', 'ab')).toBe(1);
    expect(diceCoefficient('a', 'b')).toBe(0);
    expect(diceCoefficient('aaaa', 'aa')).toBeCloseTo(0.5, 10);
  });

  // Scores the legacy's bestSimilarityByTemplates gives these texts (measured by running its algorithm).
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

  it('a bare opening of the long prompt fails (legacy 0.457), a full-length one passes', () => {
    expect(claudeCodePromptScore('You are an interactive CLI tool that helps users with software engineering tasks.')).toBeLessThan(0.5);
    const long = `You are an interactive CLI tool that helps users with software engineering tasks. ${'Use the instructions below and the tools available to you to assist the user. '.repeat(8)}`;
    expect(claudeCodePromptScore(long)).toBeGreaterThanOrEqual(0.5);
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
