import { CLAUDE_CODE_TEMPLATES } from './claude-code-templates.js';

/**
 * "How much does this system entry look like a Claude Code prompt?" — the legacy's
 * bestSimilarityByTemplates (src/utils/contents.js), used by the claude_code client validator
 * (every entry ≥ SYSTEM_PROMPT_THRESHOLD, default 0.5) and by the relay's "real Claude Code
 * request" check (some entry ≥ 1). Scored against the 28 templates of claude-code-templates.ts:
 *
 * - text and template are normalised: `__PLACEHOLDER__` → space, whitespace runs → one space, trimmed;
 * - a template ending in a placeholder is compared with the input cut after that placeholder's
 *   30-character anchor (first occurrence in the raw input, exact or with flexible whitespace;
 *   then the last occurrence of the collapsed anchor in the normalised input);
 * - a template with placeholders whose fixed parts all occur, in order, in the input (whitespace
 *   ignored) scores 1;
 * - otherwise the Dice coefficient of character-bigram multisets, whitespace removed
 *   (string-similarity compareTwoStrings); the best template wins, ties to the first.
 */

const PLACEHOLDER = '__PLACEHOLDER__';
const ANCHOR_LENGTH = 30;

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();
const normalizePrompt = (s: string) => collapse(s.split(PLACEHOLDER).join(' '));
const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Bigram counts of a whitespace-free string. */
function bigramCounts(compact: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < compact.length - 1; i++) {
    const bg = compact.substring(i, i + 2);
    counts.set(bg, (counts.get(bg) ?? 0) + 1);
  }
  return counts;
}

/** string-similarity's compareTwoStrings: Dice coefficient over bigram multisets, whitespace removed. */
export function diceCoefficient(a: string, b: string): number {
  const first = a.replace(/\s+/g, '');
  const second = b.replace(/\s+/g, '');
  if (first === second) return 1;
  if (first.length < 2 || second.length < 2) return 0;
  return diceOfCompact(first, bigramCounts(first), second, bigramCounts(second));
}

/** Dice of two whitespace-free, unequal strings of length ≥ 2 (multiset intersection is symmetric). */
function diceOfCompact(first: string, a: Map<string, number>, second: string, b: Map<string, number>): number {
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let intersection = 0;
  for (const [bg, n] of small) intersection += Math.min(n, large.get(bg) ?? 0);
  return (2 * intersection) / (first.length + second.length - 2);
}

interface Template {
  id: string;
  /** Normalised text, whitespace-free form and its bigrams (precomputed once). */
  normalized: string;
  compact: string;
  bigrams: Map<string, number>;
  /** Raw 30 characters before a trailing placeholder, and their collapsed form. */
  anchorRaw: string | null;
  anchorCollapsed: string | null;
  /** The collapsed fixed parts between placeholders (only when the template has any placeholder). */
  parts: string[] | null;
}

function compileTemplate(id: string, text: string): Template {
  const normalized = normalizePrompt(text);
  const compact = normalized.replace(/\s+/g, '');
  const trimmed = text.trimEnd();
  let anchorRaw: string | null = null;
  if (trimmed.endsWith(PLACEHOLDER)) {
    const at = trimmed.lastIndexOf(PLACEHOLDER);
    anchorRaw = trimmed.slice(Math.max(0, at - ANCHOR_LENGTH), at);
  }
  const split = trimmed.split(PLACEHOLDER).map(collapse);
  return {
    id,
    normalized,
    compact,
    bigrams: bigramCounts(compact),
    anchorRaw: anchorRaw && anchorRaw.trim() ? anchorRaw : null,
    anchorCollapsed: anchorRaw ? collapse(anchorRaw) || null : null,
    parts: split.length > 1 ? split : null,
  };
}

const TEMPLATES: readonly Template[] = CLAUDE_CODE_TEMPLATES.map(([id, text]) => compileTemplate(id, text)).filter((t) => t.normalized);

/** The raw input cut right after the first occurrence of the template's trailing-placeholder anchor. */
function cutAtRawAnchor(raw: string, t: Template): string {
  if (!raw || !t.anchorRaw) return raw;
  const direct = raw.indexOf(t.anchorRaw);
  if (direct !== -1) return raw.slice(0, direct + t.anchorRaw.length);
  const pattern = t.anchorRaw.split(/\s+/).filter(Boolean).map(escapeRegex).join('\\s*');
  if (!pattern) return raw;
  const m = new RegExp(pattern).exec(raw);
  return m ? raw.slice(0, m.index + m[0].length) : raw;
}

/** Fixed parts of the template appear in order in the value (whitespace ignored). */
function containsPartsInOrder(value: string, parts: string[]): boolean {
  const compactValue = value.replace(/\s+/g, '');
  let cursor = 0;
  for (const part of parts) {
    if (!part) continue;
    const p = part.replace(/\s+/g, '');
    const at = compactValue.indexOf(p, cursor);
    if (at === -1) return false;
    cursor = at + p.length;
  }
  return true;
}

/** What the legacy compares with template `t` (normalizeValueForTemplate), or the template itself on a placeholder match. */
function preparedFor(raw: string, t: Template): string {
  let value = normalizePrompt(cutAtRawAnchor(raw, t));
  if (t.anchorCollapsed) {
    const at = value.lastIndexOf(t.anchorCollapsed);
    if (at !== -1) value = value.slice(0, at + t.anchorCollapsed.length).trim();
  }
  if (t.parts && containsPartsInOrder(value, t.parts)) return t.normalized;
  return value;
}

/** Best score of one system entry's text against the templates (bestSimilarityByTemplates().bestScore). */
export function claudeCodePromptScore(text: unknown): number {
  const raw = typeof text === 'string' ? text : '';
  let best = 0;
  let lastPrepared: string | null = null;
  let compact = '';
  let counts: Map<string, number> | null = null;
  for (const t of TEMPLATES) {
    const prepared = preparedFor(raw, t);
    if (!prepared.trim()) continue;
    if (prepared !== lastPrepared) {
      lastPrepared = prepared;
      compact = collapse(prepared).replace(/\s+/g, '');
      counts = null;
    }
    let score: number;
    if (compact === t.compact) score = 1;
    else if (compact.length < 2 || t.compact.length < 2) score = 0;
    else {
      // upper bound 2·min(la−1, lb−1)/(la+lb−2): skip templates that cannot beat the best so far
      if ((2 * (Math.min(compact.length, t.compact.length) - 1)) / (compact.length + t.compact.length - 2) <= best) continue;
      counts ??= bigramCounts(compact);
      score = diceOfCompact(compact, counts, t.compact, t.bigrams);
    }
    if (score > best) best = score;
    if (best >= 1) break; // no template scores above 1
  }
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
