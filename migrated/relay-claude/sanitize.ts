/**
 * The legacy's upstream error sanitiser (relay-claude.md §5.5, responses-and-errors.md §10):
 * applied to console errors and count_tokens non-2xx bodies, never to official /v1/messages errors.
 */
const RULES: RegExp[] = [
  /https?:\/\/\S+/gi,
  /For more (details|information|help)[,\s]*/gi,
  /(please\s+)?visit\s+\S*/gi,
  /(see|check)\s+(our|the)\s+\S*/gi,
  /(contact|reach)\s+(us|support)\s+at\s+\S*/gi,
  /88code\S*/gi,
  /duck\S*/gi,
  /packy\S*/gi,
  /ikun\S*/gi,
  /privnode\S*/gi,
  /yescode\S*/gi,
  /yes.vg\S*/gi,
  /share\S*/gi,
  /yhlxj\S*/gi,
  /gac\S*/gi,
  /driod\S*/gi,
];

const FALLBACK = 'The requested model is currently unavailable';

export function sanitizeErrorMessage(text: string): string {
  let out = text;
  for (const rule of RULES) out = out.replace(rule, '');
  out = out.replace(/\s+/g, ' ').trim();
  return out.length < 5 ? FALLBACK : out;
}

/** Deep copy with every string value (any depth) sanitised; key order kept. Non-objects pass unchanged. */
export function sanitizeUpstreamError(value: unknown): unknown {
  if (!value || typeof value !== 'object') return value;
  return sanitizeDeep(value);
}

function sanitizeDeep(value: unknown): unknown {
  if (typeof value === 'string') return sanitizeErrorMessage(value);
  if (Array.isArray(value)) return value.map(sanitizeDeep);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = sanitizeDeep(v);
    return out;
  }
  return value;
}
