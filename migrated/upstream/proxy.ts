import * as v from 'valibot';

/**
 * Per-account proxy settings as the legacy stores them (`proxy` field: JSON
 * `{"type":"socks5"|"http"|"https","host","port","username?","password?"}`).
 */
export const ProxySchema = v.object({
  type: v.picklist(['socks5', 'socks5h', 'http', 'https']),
  host: v.pipe(v.string(), v.minLength(1)),
  port: v.union([v.pipe(v.number(), v.integer()), v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number))]),
  username: v.optional(v.string()),
  password: v.optional(v.string()),
});

export type ProxyConfig = v.InferOutput<typeof ProxySchema>;

/** The account's proxy, or null when absent or invalid (the legacy then connects directly). */
export function parseProxy(raw: unknown): ProxyConfig | null {
  const value = proxyObject(raw);
  if (!value) return null;
  const r = v.safeParse(ProxySchema, value);
  return r.success ? r.output : null;
}

/** A stored proxy value (JSON text or object) as an object, or null when empty or not JSON. */
export function proxyObject(raw: unknown): Record<string, unknown> | null {
  if (!raw) return null;
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      return null;
    }
  }
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
}

export function proxyKey(p: ProxyConfig | null): string {
  return p ? `${p.type}://${p.username ?? ''}:${p.password ?? ''}@${p.host}:${p.port}` : 'direct';
}
