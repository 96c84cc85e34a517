/**
 * Path patterns of the routing table, parsed once into segments.
 * Express semantics: case-insensitive, trailing slash optional, query string ignored.
 */

export type Segment =
  | { kind: 'exact'; value: string }
  | { kind: 'param'; name: string; suffix: string }
  | { kind: 'wildcard' };

export interface ParsedPattern {
  source: string;
  segments: Segment[];
  /** True when the last segment is `*` (matches the prefix itself and everything below it). */
  prefix: boolean;
  /** Canonical form for overlap detection: `/a/:/b:suffix/*` (parameter names dropped, lower case). */
  canonical: string;
}

/** Split a request path into lower-cased segments (no leading/trailing empties). */
export function splitPath(path: string): string[] {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  const parts = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const s = parts[i]!;
    if (s === '' && i === parts.length - 1) break; // trailing slash
    out.push(s);
  }
  return out;
}

export function parsePattern(source: string): ParsedPattern {
  const raw = splitPath(source);
  const segments: Segment[] = raw.map((s) => {
    if (s === '*') return { kind: 'wildcard' };
    if (s.startsWith(':')) {
      const m = /^:([A-Za-z_][A-Za-z0-9_]*)(.*)$/.exec(s)!;
      return { kind: 'param', name: m[1]!, suffix: (m[2] ?? '').toLowerCase() };
    }
    return { kind: 'exact', value: s.toLowerCase() };
  });
  const prefix = segments.length > 0 && segments[segments.length - 1]!.kind === 'wildcard';
  const canonical =
    '/' +
    segments
      .map((s) => (s.kind === 'exact' ? s.value : s.kind === 'param' ? `:${s.suffix}` : '*'))
      .join('/');
  return { source, segments, prefix, canonical };
}
