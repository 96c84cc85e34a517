import type { OutgoingWebhook } from './payloads.js';

/**
 * sendHttpRequest + retryWithBackoff: JSON POST with the legacy's headers, a per-attempt timeout
 * (`platform.timeout || 10000` ms), non-2xx is a failure, up to `maxRetries` attempts with
 * `retryDelay * 2^i` between them.
 */

export interface DeliveryPolicy {
  timeoutMs: number;
  maxRetries: number;
  retryDelayMs: number;
}

const HEADERS = { 'Content-Type': 'application/json', 'User-Agent': 'claude-relay-service/2.0' };

export async function postOnce(w: OutgoingWebhook, timeoutMs: number): Promise<void> {
  const res = await fetch(w.url, { method: 'POST', headers: HEADERS, body: JSON.stringify(w.body), signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}: ${res.statusText}`);
  if (!w.expectOkField) return;
  let ok = false;
  let description = '未知错误';
  try {
    const parsed = JSON.parse(text) as { ok?: unknown; description?: unknown };
    ok = parsed.ok === true;
    if (typeof parsed.description === 'string' && parsed.description) description = parsed.description;
  } catch {
    // not JSON: not ok
  }
  if (!ok) throw new Error(`Telegram API 错误: ${description}`);
}

export async function deliver(w: OutgoingWebhook, policy: DeliveryPolicy, sleep: (ms: number) => Promise<void>): Promise<void> {
  let last: unknown;
  for (let i = 0; i < policy.maxRetries; i++) {
    try {
      await postOnce(w, policy.timeoutMs);
      return;
    } catch (err) {
      last = err;
      if (i < policy.maxRetries - 1) await sleep(policy.retryDelayMs * 2 ** i);
    }
  }
  throw last;
}
