import { parsePattern, splitPath, type ParsedPattern } from './pattern.js';
import type { Route, RoutingTable } from './schema.js';

/**
 * Precompiled route matching: a segment trie built once per table.
 * Precedence at every segment: exact literal, then parameter with a literal suffix, then plain parameter,
 * then a prefix wildcard ending at this depth (the deepest wildcard wins). A path that matches a route
 * pattern but not its methods falls through to the next candidate, like Express.
 * Pure: usable without servers (the compat engine maps recorded requests with it).
 */

export interface RouteMatch {
  route: Route;
  /** Parameters captured by `:name` segments (URL-decoded, original case). */
  params: Record<string, string>;
  /** The pattern (as written in the table) that matched. */
  pattern: string;
}

export interface CompiledTable {
  readonly table: RoutingTable;
  /** `table.version`, or a short content hash when absent. */
  readonly version: string;
  match(method: string, pathOrUrl: string): RouteMatch | null;
  route(id: string): Route | undefined;
}

interface Entry {
  route: Route;
  pattern: ParsedPattern;
  /** null = all methods */
  methods: Set<string> | null;
}

interface Node {
  exact: Map<string, Node>;
  suffixed: Array<{ suffix: string; name: string; node: Node }>;
  param: { names: string[]; node: Node } | null;
  /** Routes whose pattern ends exactly here. */
  terminal: Entry[];
  /** Routes whose pattern is `<path to here>/*`. */
  wildcard: Entry[];
}

const newNode = (): Node => ({ exact: new Map(), suffixed: [], param: null, terminal: [], wildcard: [] });

function methodsOf(route: Route): Set<string> | null {
  if (route.methods.includes('*')) return null;
  return new Set(route.methods);
}

function accepts(entry: Entry, method: string): boolean {
  if (entry.methods === null) return true;
  if (entry.methods.has(method)) return true;
  return method === 'HEAD' && entry.methods.has('GET');
}

function pick(entries: Entry[], method: string): Entry | undefined {
  // An explicit method beats the HEAD-via-GET fallback and "*".
  let fallback: Entry | undefined;
  for (const e of entries) {
    if (e.methods !== null && e.methods.has(method)) return e;
    if (!fallback && accepts(e, method)) fallback = e;
  }
  return fallback;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

export function compileTable(table: RoutingTable): CompiledTable {
  const root = newNode();
  const byId = new Map<string, Route>();
  for (const route of table.routes) {
    byId.set(route.id, route);
    const methods = methodsOf(route);
    for (const source of route.paths) {
      const pattern = parsePattern(source);
      let node = root;
      for (const seg of pattern.segments) {
        if (seg.kind === 'wildcard') break;
        if (seg.kind === 'exact') {
          let next = node.exact.get(seg.value);
          if (!next) node.exact.set(seg.value, (next = newNode()));
          node = next;
        } else if (seg.suffix) {
          let slot = node.suffixed.find((s) => s.suffix === seg.suffix);
          if (!slot) {
            slot = { suffix: seg.suffix, name: seg.name, node: newNode() };
            node.suffixed.push(slot);
            node.suffixed.sort((a, b) => b.suffix.length - a.suffix.length);
          }
          node = slot.node;
        } else {
          if (!node.param) node.param = { names: [], node: newNode() };
          node.param.names.push(seg.name);
          node = node.param.node;
        }
      }
      (pattern.prefix ? node.wildcard : node.terminal).push({ route, pattern, methods });
    }
  }

  const version = table.version ?? fnv1a(JSON.stringify(table));

  // Parameter names are per pattern; capture values positionally and name them from the matched pattern.
  function walk(node: Node, segs: string[], i: number, method: string, values: string[]): Entry | null {
    if (i === segs.length) {
      const hit = pick(node.terminal, method);
      if (hit) return hit;
    } else {
      const seg = segs[i]!;
      const lower = seg.toLowerCase();
      const exact = node.exact.get(lower);
      if (exact) {
        const hit = walk(exact, segs, i + 1, method, values);
        if (hit) return hit;
      }
      for (const s of node.suffixed) {
        if (lower.length > s.suffix.length && lower.endsWith(s.suffix)) {
          values.push(seg.slice(0, seg.length - s.suffix.length));
          const hit = walk(s.node, segs, i + 1, method, values);
          if (hit) return hit;
          values.pop();
        }
      }
      if (node.param && seg !== '') {
        values.push(seg);
        const hit = walk(node.param.node, segs, i + 1, method, values);
        if (hit) return hit;
        values.pop();
      }
    }
    if (node.wildcard.length > 0) return pick(node.wildcard, method) ?? null;
    return null;
  }

  return {
    table,
    version,
    route: (id) => byId.get(id),
    match(method, pathOrUrl) {
      const segs = splitPath(pathOrUrl);
      const values: string[] = [];
      const entry = walk(root, segs, 0, method.toUpperCase(), values);
      if (!entry) return null;
      const params: Record<string, string> = {};
      let k = 0;
      for (const seg of entry.pattern.segments) {
        if (seg.kind === 'param') params[seg.name] = safeDecode(values[k++] ?? '');
      }
      return { route: entry.route, params, pattern: entry.pattern.source };
    },
  };
}
