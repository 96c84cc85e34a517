import type { IncomingMessage } from 'node:http';
import type { MigratedDeps } from '../runtime/deps.js';
import { AdminSessions, type AdminSession } from '../storage/sessions.js';

/**
 * The legacy's `authenticateAdmin` (src/middleware/auth.js, auth-and-keys.md §5.3): token from
 * `Authorization` (Bearer stripped; a non-Bearer value verbatim) or `x-admin-token`; 32–512
 * chars; session hash `session:<token>`; 24 h inactivity limit; on success the session is
 * rewritten with a fresh `lastActivity` and `EXPIRE 86400` (fire-and-forget).
 *
 * Deliberate deviations (DEVIATIONS.md): a session hash without `username` — what the legacy's
 * `/web/auth/refresh` creates for ANY ≥32-char string — is not a session here, and the TTL we
 * write is always 86400 s (never the login's 86400000 "seconds").
 */
export interface AdminIdentity {
  id: string;
  username: string;
  sessionId: string;
  loginTime: string | undefined;
}

export type AdminAuthResult =
  | { ok: true; admin: AdminIdentity; session: AdminSession }
  | { ok: false; status: number; headers: Array<[string, string]>; body: Record<string, unknown> };

const fail = (status: number, error: string, message: string): AdminAuthResult => ({ ok: false, status, headers: [], body: { error, message } });

const SESSION_LOOKUP_TIMEOUT_MS = 5000;
const MAX_INACTIVITY_MS = 24 * 60 * 60 * 1000;

export function adminTokenOf(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  const fromAuth = typeof auth === 'string' ? auth.replace(/^Bearer\s+/i, '') : undefined;
  const fromHeader = req.headers['x-admin-token'];
  return fromAuth || (typeof fromHeader === 'string' ? fromHeader : Array.isArray(fromHeader) ? fromHeader.join(', ') : undefined);
}

export async function authenticateAdmin(deps: Pick<MigratedDeps, 'redis' | 'clock' | 'log'>, req: IncomingMessage): Promise<AdminAuthResult> {
  try {
    const token = adminTokenOf(req);
    if (!token) return fail(401, 'Missing admin token', 'Please provide an admin token');
    if (token.length < 32 || token.length > 512) return fail(401, 'Invalid admin token format', 'Admin token format is invalid');

    const sessions = new AdminSessions(deps.redis, deps.clock);
    let timer: NodeJS.Timeout | undefined;
    const session = await Promise.race([
      sessions.get(token),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Session lookup timeout')), SESSION_LOOKUP_TIMEOUT_MS);
        timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
    if (!session) return fail(401, 'Invalid admin token', 'Invalid or expired admin session');

    const now = deps.clock.now();
    const last = new Date(session.lastActivity || session.loginTime).getTime();
    if (now - last > MAX_INACTIVITY_MS) {
      await sessions.delete(token);
      return fail(401, 'Session expired', 'Admin session has expired due to inactivity');
    }
    sessions.touch(token, session).catch((err: unknown) => deps.log.warn({ err }, 'failed to refresh admin session activity'));
    return {
      ok: true,
      session,
      admin: { id: session.adminId || 'admin', username: session.username, sessionId: token, loginTime: session.loginTime },
    };
  } catch (err) {
    deps.log.error({ err }, 'admin authentication error');
    return fail(500, 'Authentication error', 'Internal server error during admin authentication');
  }
}
