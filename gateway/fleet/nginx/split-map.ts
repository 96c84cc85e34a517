import { parsePattern, type Segment } from '../../routing/pattern.js';
import type { Route, RoutingTable } from '../../routing/schema.js';

/**
 * Where nginx sends each path of the routing table in the *split* deployment: straight to the legacy,
 * or to the gateway. The result is an ordered list of case-insensitive regexes over the raw
 * `$request_uri` (nginx `map`, first match wins), in the same precedence as the gateway's own matcher
 * (gateway/routing/match.ts: per segment exact, then parameter with a literal suffix (longest first),
 * then plain parameter, then the end of the pattern, then a prefix wildcard).
 *
 * nginx cannot see the HTTP method in a `map` over the URI, so a path goes straight to the legacy only
 * when that is right for EVERY method: the route is in `legacy` mode and either answers all methods, or
 * every other route whose patterns can match the same paths is in `legacy` mode too (so whatever the
 * gateway would fall through to is the legacy as well). Everything else goes to the gateway, which
 * always knows the right side: sending a request to the gateway is never wrong, only one hop longer.
 */

export type SplitTarget = 'legacy' | 'gateway';

export interface SplitEntry {
  routeId: string;
  mode: Route['mode'];
  pattern: string;
  /** PCRE for nginx `~*` over `$request_uri` (path + optional query string). */
  regex: string;
  target: SplitTarget;
  /** Why the target was chosen (printed as a comment in the config). */
  reason: string;
}

export interface SplitPlan {
  entries: SplitEntry[];
  /** Where requests no route matches go (the table's defaultMode: always the legacy). */
  fallback: SplitTarget;
}

// ---------------------------------------------------------------------------------------------
// Regex of one pattern

const SAFE_PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()+,;=@%:]$/;

/** One literal character as a PCRE atom that needs no backslash (nginx strings treat "\" specially). */
function literalChar(ch: string): string {
  if (!SAFE_PATH_CHAR.test(ch)) throw new Error(`character ${JSON.stringify(ch)} cannot appear in an nginx split pattern`);
  if (/[A-Za-z0-9\-_~!&',=@%:;]/.test(ch)) return ch === ';' ? '[;]' : ch;
  return `[${ch}]`; // . $ ( ) +  are literal inside a class
}

function literal(text: string): string {
  return [...text].map(literalChar).join('');
}

/** `~*` regex over `$request_uri` matching exactly the paths the gateway's matcher gives this pattern. */
export function patternRegex(source: string): string {
  const { segments } = parsePattern(source);
  let out = '^';
  for (const seg of segments) {
    if (seg.kind === 'wildcard') {
      // `/a/*` matches `/a` itself and anything below it.
      return out === '^' ? '^/' : `${out}(?:[/?]|$)`;
    }
    if (seg.kind === 'exact') out += `/${literal(seg.value)}`;
    else if (seg.suffix) out += `/[^/?]+${literal(seg.suffix)}`;
    else out += '/[^/?]+';
  }
  // Trailing slash optional, query string ignored.
  return out === '^' ? '^/?(?:[?]|$)' : `${out}/?(?:[?]|$)`;
}

// ---------------------------------------------------------------------------------------------
// Precedence (mirrors the trie walk of gateway/routing/match.ts)

type Step = { rank: number; tie: string };

const END: Step = { rank: 3, tie: '' };

function step(seg: Segment): Step {
  switch (seg.kind) {
    case 'exact':
      return { rank: 0, tie: seg.value };
    case 'param':
      // Longer suffixes are tried first: sort by descending length, then text.
      return seg.suffix
        ? { rank: 1, tie: `${String(1e6 - seg.suffix.length).padStart(7, '0')}${seg.suffix}` }
        : { rank: 2, tie: '' };
    case 'wildcard':
      return { rank: 4, tie: '' };
  }
}

function steps(source: string): Step[] {
  const { segments, prefix } = parsePattern(source);
  const out = segments.map(step);
  if (!prefix) out.push(END);
  return out;
}

/** Negative when pattern a is tried before pattern b by the gateway's matcher. */
export function comparePrecedence(a: string, b: string): number {
  const sa = steps(a);
  const sb = steps(b);
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const x = sa[i]!;
    const y = sb[i]!;
    if (x.rank !== y.rank) return x.rank - y.rank;
    if (x.tie !== y.tie) return x.tie < y.tie ? -1 : 1;
  }
  return sa.length - sb.length;
}

// ---------------------------------------------------------------------------------------------
// Overlap: can one request path match both patterns?

function segmentsOverlap(a: Segment, b: Segment): boolean {
  if (a.kind === 'exact' && b.kind === 'exact') return a.value === b.value;
  if (a.kind === 'param' && b.kind === 'param') return a.suffix.endsWith(b.suffix) || b.suffix.endsWith(a.suffix);
  const [lit, par] = a.kind === 'exact' ? [a, b] : [b, a];
  if (lit.kind !== 'exact' || par.kind !== 'param') return true;
  return lit.value.length > par.suffix.length && lit.value.endsWith(par.suffix);
}

export function patternsOverlap(a: string, b: string): boolean {
  const pa = parsePattern(a).segments;
  const pb = parsePattern(b).segments;
  for (let i = 0; ; i++) {
    const x = pa[i];
    const y = pb[i];
    if (x?.kind === 'wildcard' || y?.kind === 'wildcard') return true;
    if (!x || !y) return !x && !y;
    if (!segmentsOverlap(x, y)) return false;
  }
}

// ---------------------------------------------------------------------------------------------

const allMethods = (route: Route): boolean => route.methods.includes('*');

/** Plan the split: one entry per (route, pattern), in match order, each with its target. */
export function planSplit(table: RoutingTable): SplitPlan {
  const items = table.routes.flatMap((route) => route.paths.map((pattern) => ({ route, pattern })));

  const decide = (route: Route, pattern: string): { target: SplitTarget; reason: string } => {
    if (route.mode !== 'legacy') return { target: 'gateway', reason: `mode ${route.mode}` };
    if (allMethods(route)) return { target: 'legacy', reason: 'mode legacy, all methods' };
    const blocker = items.find(
      (o) => o.route !== route && o.route.mode !== 'legacy' && patternsOverlap(o.pattern, pattern),
    );
    if (blocker) {
      return {
        target: 'gateway',
        reason: `mode legacy for ${route.methods.join(',')} only; other methods may reach route "${blocker.route.id}" (${blocker.route.mode})`,
      };
    }
    return { target: 'legacy', reason: `mode legacy, ${route.methods.join(',')} (no overlapping non-legacy route)` };
  };

  const sorted = items
    .map((item, index) => ({ ...item, index }))
    .sort((a, b) => comparePrecedence(a.pattern, b.pattern) || a.index - b.index);

  const entries: SplitEntry[] = [];
  const byRegex = new Map<string, SplitEntry>();
  for (const { route, pattern } of sorted) {
    const regex = patternRegex(pattern);
    const { target, reason } = decide(route, pattern);
    const same = byRegex.get(regex);
    if (same) {
      // Same paths, different methods (the validator allows this when the methods are disjoint):
      // nginx cannot tell them apart, so only a common target can skip the gateway.
      if (same.target !== target) {
        same.target = 'gateway';
        same.reason = `shared with route "${route.id}" (${route.mode}); method decides`;
      }
      continue;
    }
    const entry: SplitEntry = { routeId: route.id, mode: route.mode, pattern, regex, target, reason };
    byRegex.set(regex, entry);
    entries.push(entry);
  }
  return { entries, fallback: table.defaultMode === 'legacy' ? 'legacy' : 'gateway' };
}
