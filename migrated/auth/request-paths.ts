/**
 * Path facts the legacy's auth derives from express' req.originalUrl / req.baseUrl / req.path.
 */

const TOKEN_COUNT_PATHS = new Set(['/v1/messages/count_tokens', '/api/v1/messages/count_tokens', '/claude/v1/messages/count_tokens']);

/** Lower-case, query removed, duplicate slashes collapsed, trailing slash removed (normalizeRequestPath). */
export function normalizeRequestPath(value: string | undefined): string {
  if (!value) return '/';
  const lower = value.split('?')[0]!.toLowerCase();
  const collapsed = lower.replace(/\/{2,}/g, '/');
  if (collapsed.length > 1 && collapsed.endsWith('/')) return collapsed.slice(0, -1);
  return collapsed || '/';
}

/**
 * The legacy's mount prefixes in app.js order that can carry API-key routes; the first that
 * matches (case-insensitive, whole segment) is the router's baseUrl (/openai/gemini and
 * /openai/claude are mounted before /openai, so they win).
 */
const MOUNTS = ['/api', '/claude', '/admin', '/users', '/web', '/tutorials', '/apiStats', '/gemini', '/openai/gemini', '/openai/claude', '/openai', '/droid', '/azure'];

/** Split a path into (baseUrl, router-relative path) by the legacy's mount table. */
export function splitMount(path: string): { baseUrl: string; path: string } {
  const lower = path.toLowerCase();
  for (const mount of MOUNTS) {
    const m = mount.toLowerCase();
    if (lower === m || lower.startsWith(`${m}/`)) {
      const rest = path.substring(mount.length);
      return { baseUrl: path.substring(0, mount.length), path: rest || '/' };
    }
  }
  return { baseUrl: '', path };
}

/** req.path inside the mounted router, for the validators that read it. */
export function routerPath(originalUrl: string): string {
  const q = originalUrl.indexOf('?');
  return splitMount(q === -1 ? originalUrl : originalUrl.substring(0, q)).path;
}

/** isTokenCountRequest: baseUrl+path or originalUrl, normalised, is one of the count_tokens paths. */
export function isTokenCountRequest(originalUrl: string, routerRelativePath?: string): boolean {
  const q = originalUrl.indexOf('?');
  const pathOnly = q === -1 ? originalUrl : originalUrl.substring(0, q);
  const { baseUrl, path } = splitMount(pathOnly);
  const combined = normalizeRequestPath(`${baseUrl}${routerRelativePath ?? path}`);
  if (TOKEN_COUNT_PATHS.has(combined)) return true;
  return TOKEN_COUNT_PATHS.has(normalizeRequestPath(originalUrl));
}

/** The Claude-Code-only gate applies to `/api…` or `/claude…` URLs containing `/v1/messages` (lower-cased originalUrl). */
export function isClaudeMessagesEndpoint(originalUrl: string): boolean {
  const p = originalUrl.toLowerCase();
  return p.includes('/v1/messages') && (p.startsWith('/api') || p.startsWith('/claude'));
}
