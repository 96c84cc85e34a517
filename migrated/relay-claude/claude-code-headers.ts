import type { Redis } from 'ioredis';
import type { Clock } from '../runtime/clock.js';
import { keys } from '../storage/keys.js';
import { DEFAULT_CLAUDE_CODE_HEADERS, type ClientHeaders } from './headers.js';

/**
 * Per-account Claude Code header capture (`claude_code_headers:<id>`, SETEX 7 d) and the
 * stored/default set the relay merges for bodies without a string model (claudeCodeHeadersService).
 */
const CAPTURED = [
  'x-stainless-retry-count',
  'x-stainless-timeout',
  'x-stainless-lang',
  'x-stainless-package-version',
  'x-stainless-os',
  'x-stainless-arch',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'anthropic-dangerous-direct-browser-access',
  'x-app',
  'user-agent',
  'accept-language',
  'sec-fetch-mode',
  'accept-encoding',
];

const CLI_UA = /^claude-cli\/[\d.]+\s+\(/i;

export function cliVersion(userAgent: string | undefined): string | null {
  const m = userAgent ? /claude-cli\/([\d.]+(?:[a-zA-Z0-9-]*)?)/i.exec(userAgent) : null;
  return m ? m[1]! : null;
}

export function compareVersions(a: string | null, b: string | null): number {
  if (!a || !b) return 0;
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] || 0;
    const y = pb[i] || 0;
    if (x > y) return 1;
    if (x < y) return -1;
  }
  return 0;
}

export class ClaudeCodeHeaderStore {
  constructor(
    private readonly redis: Redis,
    private readonly clock: Clock,
  ) {}

  async store(accountId: string, client: ClientHeaders): Promise<void> {
    try {
      const lower: Record<string, string> = {};
      for (const [k, v] of Object.entries(client)) if (v !== undefined) lower[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      const extracted: Record<string, string> = {};
      for (const k of CAPTURED) if (lower[k]) extracted[k] = lower[k];
      const ua = extracted['user-agent'];
      if (!ua || !CLI_UA.test(ua)) return;
      const version = cliVersion(ua);
      if (!version) return;
      const key = keys.claudeCodeHeaders(accountId);
      const current = await this.redis.get(key);
      if (current) {
        const parsed = JSON.parse(current) as { headers?: Record<string, string> };
        if (compareVersions(version, cliVersion(parsed.headers?.['user-agent'])) <= 0) return;
      }
      const data = { headers: extracted, version, updatedAt: new Date(this.clock.now()).toISOString() };
      await this.redis.setex(key, 86400 * 7, JSON.stringify(data));
    } catch {
      // legacy: logged only
    }
  }

  async headersFor(accountId: string): Promise<Record<string, string>> {
    try {
      const raw = await this.redis.get(keys.claudeCodeHeaders(accountId));
      if (raw) return (JSON.parse(raw) as { headers: Record<string, string> }).headers;
    } catch {
      // fall through to defaults
    }
    return { ...DEFAULT_CLAUDE_CODE_HEADERS };
  }

  /** captureAndGetUnifiedUserAgent (only for accounts with useUnifiedUserAgent === 'true'). */
  async unifiedUserAgent(clientUa: string | undefined): Promise<string | null> {
    const key = keys.claudeCodeUserAgentDaily();
    const cached = await this.redis.get(key);
    if (clientUa && /^claude-cli\/[\d.]+\s+\(/i.test(clientUa)) {
      if (!cached || compareVersions(cliVersion(clientUa), cliVersion(cached)) > 0) {
        await this.redis.setex(key, 90000, clientUa);
        return clientUa;
      }
      await this.redis.expire(key, 90000);
    }
    return cached;
  }
}
