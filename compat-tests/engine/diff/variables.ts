import type { CompiledNoise, VariableClass } from '../noise/rules.js';

/** A string cut into literal text and variable tokens (by the noise file's variable classes). */
export interface Token {
  cls: VariableClass;
  text: string;
}
export interface Tokenized {
  literals: string[];
  tokens: Token[];
}

export function tokenize(text: string, noise: CompiledNoise): Tokenized {
  const literals: string[] = [];
  const tokens: Token[] = [];
  const re = noise.tokenizer;
  if (!re) return { literals: [text], tokens };
  re.lastIndex = 0;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    const idx = Object.entries(m.groups ?? {}).find(([, val]) => val !== undefined)?.[0];
    const cls = noise.variables[Number(idx?.slice(1))]!;
    literals.push(text.slice(last, m.index));
    tokens.push({ cls, text: m[0] });
    last = m.index + m[0].length;
  }
  literals.push(text.slice(last));
  return { literals, tokens };
}

/**
 * One-to-one mapping of recorded ids to replayed ids for one exchange. Ids that exist in both
 * pre-states are fixed (must stay themselves): only ids born during the exchange are variables.
 */
export class Binder {
  private forward = new Map<string, string>();
  private backward = new Map<string, string>();
  constructor(private readonly fixed: ReadonlySet<string> = new Set()) {}
  bind(expected: string, actual: string): boolean {
    if (expected === actual && this.fixed.has(expected)) return true;
    const f = this.forward.get(expected);
    if (f !== undefined) return f === actual;
    const b = this.backward.get(actual);
    if (b !== undefined) return b === expected;
    if (this.fixed.has(expected) || this.fixed.has(actual)) return expected === actual;
    this.forward.set(expected, actual);
    this.backward.set(actual, expected);
    return true;
  }
  /** Recorded ids that became another id. */
  renamed(): Array<[string, string]> {
    return [...this.forward.entries()].filter(([e, a]) => e !== a);
  }
  /** What a recorded id became in the replay (for matching Redis keys / PG rows by name). */
  mapped(expected: string): string | undefined {
    return this.forward.get(expected);
  }
}

function parseTime(text: string, cls: VariableClass): number | null {
  switch (cls.parse) {
    case 'epoch-ms':
      return Number(text);
    case 'epoch-s':
      return Number(text) * 1000;
    case 'iso':
    case 'http-date':
    default: {
      // PostgreSQL text form "2026-11-26 11:51:59.722+00" -> ISO
      const iso = text.replace(/^(\d{4}-\d{2}-\d{2}) /, '$1T').replace(/([+-]\d{2})$/, '$1:00');
      const t = Date.parse(iso);
      return Number.isNaN(t) ? null : t;
    }
  }
}

export interface TokenMatch {
  equivalent: boolean;
  /** Bytes of recorded tokens that differed but were accepted as variables, by class id. */
  accepted: Array<{ cls: string; bytes: number }>;
}

/** Same text once variables are accounted for? Time tokens may move by at most `toleranceMs`. */
export function matchWithVariables(
  expected: string,
  actual: string,
  noise: CompiledNoise,
  binder: Binder,
  toleranceMs: number,
  timeShiftMs = 0,
): TokenMatch {
  const no: TokenMatch = { equivalent: false, accepted: [] };
  const e = tokenize(expected, noise);
  const a = tokenize(actual, noise);
  if (e.tokens.length !== a.tokens.length || e.literals.length !== a.literals.length) return no;
  for (let i = 0; i < e.literals.length; i++) if (e.literals[i] !== a.literals[i]) return no;
  const accepted: TokenMatch['accepted'] = [];
  for (let i = 0; i < e.tokens.length; i++) {
    const et = e.tokens[i]!;
    const at = a.tokens[i]!;
    if (et.cls.id !== at.cls.id) return no;
    if (et.cls.kind === 'bind') {
      if (!binder.bind(et.text, at.text)) return no;
    } else {
      if (et.text === at.text) continue;
      const te = parseTime(et.text, et.cls);
      const ta = parseTime(at.text, at.cls);
      if (te === null || ta === null || Math.abs(te + timeShiftMs - ta) > toleranceMs) return no;
    }
    if (et.text !== at.text) accepted.push({ cls: et.cls.id, bytes: Buffer.byteLength(et.text) });
  }
  return { equivalent: true, accepted };
}

/** Every bind-class token in a text (to seed the fixed set from pre-states and requests). */
export function bindTokens(text: string, noise: CompiledNoise, into: Set<string>): void {
  for (const t of tokenize(text, noise).tokens) if (t.cls.kind === 'bind') into.add(t.text);
}
