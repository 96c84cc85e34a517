import type { IncomingHttpHeaders } from 'node:http';
import { hasClaudeCodeSystemPrompt } from './claude-code-prompt.js';

/**
 * Client restriction validators (src/validators/clients/*.js) and the dispatcher
 * (src/validators/clientValidator.js validateRequest): allowed clients are tried in stored
 * order, unknown ids skipped, first match wins.
 */
export interface ClientRequestView {
  headers: IncomingHttpHeaders;
  /** Router-relative path (express req.path inside the mounted router). */
  path: string;
  /** Path + query as sent (req.originalUrl). */
  originalUrl: string;
  body: unknown;
  /** SYSTEM_PROMPT_THRESHOLD (default 0.5). */
  promptThreshold: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : '');
const bodyObj = (b: unknown): Record<string, unknown> => (b && typeof b === 'object' ? (b as Record<string, unknown>) : {});

export function validateClaudeCode(req: ClientRequestView): boolean {
  const ua = str(req.headers['user-agent']);
  if (!/^claude-cli\/\d+\.\d+\.\d+/i.test(ua)) return false;
  if (!req.path.includes('messages')) return true;
  if (!hasClaudeCodeSystemPrompt(req.body, req.promptThreshold)) return false;
  for (const h of ['x-app', 'anthropic-beta', 'anthropic-version']) {
    const v = req.headers[h];
    if (!v || (typeof v === 'string' && v.trim() === '')) return false;
  }
  const metadata = bodyObj(req.body).metadata;
  const userId = metadata && typeof metadata === 'object' ? (metadata as Record<string, unknown>).user_id : undefined;
  if (!userId) return false;
  return typeof userId === 'string' && /^user_[a-fA-F0-9]{64}_account__session_[\w-]+$/.test(userId);
}

export function validateGeminiCli(req: ClientRequestView): boolean {
  const ua = str(req.headers['user-agent']);
  if (!req.originalUrl.startsWith('/gemini')) return false;
  if (req.originalUrl.includes('generateContent') && !/^GeminiCLI\/v?[\d.]+/i.test(ua)) return false;
  return true;
}

export function validateCodexCli(req: ClientRequestView): boolean {
  const ua = str(req.headers['user-agent']);
  const m = /^(codex_vscode|codex_cli_rs)\/[\d.]+/i.exec(ua);
  if (!m) return false;
  const strict = ['/openai', '/azure'].some((p) => req.path.startsWith(p));
  if (!strict) return true;
  if (str(req.headers.originator).toLowerCase() !== m[1]!.toLowerCase()) return false;
  const sessionId = req.headers.session_id;
  if (!sessionId || sessionId.length <= 20) return false;
  if (req.path.includes('/openai/responses') || req.path.includes('/azure/response')) {
    const instructions = bodyObj(req.body).instructions;
    if (!instructions) return false;
    if (typeof instructions !== 'string') return false;
    if (!instructions.startsWith('You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI')) return false;
  }
  return true;
}

export function validateDroidCli(req: ClientRequestView): boolean {
  const ua = str(req.headers['user-agent']);
  const factory = str(req.headers['x-factory-client']).toLowerCase();
  return /factory-cli\/(\d+\.\d+\.\d+)/i.test(ua) || factory.includes('droid') || factory.includes('factory-cli');
}

const VALIDATORS: Record<string, (req: ClientRequestView) => boolean> = {
  claude_code: validateClaudeCode,
  gemini_cli: validateGeminiCli,
  codex_cli: validateCodexCli,
  droid_cli: validateDroidCli,
};

/** The first allowed client whose validator accepts the request, or null. Validator exceptions count as "no". */
export function matchAllowedClient(allowedClients: readonly unknown[], req: ClientRequestView): string | null {
  for (const id of allowedClients) {
    const validator = typeof id === 'string' ? VALIDATORS[id] : undefined;
    if (!validator) continue;
    try {
      if (validator(req)) return id as string;
    } catch {
      // a throwing validator is a non-match, as in the legacy
    }
  }
  return null;
}
