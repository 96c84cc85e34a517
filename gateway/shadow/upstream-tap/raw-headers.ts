import type { ClientRequest } from 'node:http';

/**
 * Set a flat raw header list ([name, value, ...]) on an outgoing request, keeping each name's
 * casing and first-seen order (Node 20's request() does not take a raw array). Repeated names
 * become one multi-value header. `replace` swaps values by lower-case name (e.g. host).
 */
export function setRawHeaders(req: ClientRequest, raw: readonly string[], replace: Record<string, string> = {}): void {
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    const value = replace[lower] ?? raw[i + 1]!;
    const g = grouped.get(lower);
    if (g) {
      if (!(lower in replace)) g.values.push(value);
    } else grouped.set(lower, { name: raw[i]!, values: [value] });
  }
  for (const { name, values } of grouped.values()) req.setHeader(name, values.length === 1 ? values[0]! : values);
}
