import type { AgentPool } from '../upstream/agents.js';
import { readBody, sendUpstream } from '../upstream/client.js';
import type { ProxyConfig } from '../upstream/proxy.js';
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

/** A proxy to send through and the pool whose tunnels it uses (a Telegram platform's `proxyUrl`). */
export interface Via {
  pool: AgentPool;
  proxy: ProxyConfig;
}

/** One POST: through `via` (a proxy tunnel) when given, else fetch; non-2xx and a Telegram answer without `ok: true` fail. */
export async function postOnce(w: OutgoingWebhook, timeoutMs: number, via?: Via): Promise<void> {
  const { status, statusText, text } = via ? await postThrough(via, w, timeoutMs) : await postDirect(w, timeoutMs);
  if (status < 200 || status >= 300) throw new Error(`HTTP ${status}: ${statusText}`);
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

interface Answer {
  status: number;
  statusText: string;
  text: string;
}

async function postDirect(w: OutgoingWebhook, timeoutMs: number): Promise<Answer> {
  const res = await fetch(w.url, { method: 'POST', headers: HEADERS, body: JSON.stringify(w.body), signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, statusText: res.statusText, text: await res.text() };
}

/** The relay's upstream client through the proxy's pooled tunnel (its timeout is one of inactivity, as axios' is). */
async function postThrough(via: Via, w: OutgoingWebhook, timeoutMs: number): Promise<Answer> {
  const url = new URL(w.url);
  const body = Buffer.from(JSON.stringify(w.body), 'utf8');
  const headers = ['Host', url.host, ...Object.entries(HEADERS).flat(), 'Content-Length', String(body.length)];
  const { response } = await sendUpstream(via.pool, { url, method: 'POST', headers, body, proxy: via.proxy, timeoutMs });
  const text = (await readBody(response)).toString('utf8');
  return { status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', text };
}

export function deliver(w: OutgoingWebhook, policy: DeliveryPolicy, sleep: (ms: number) => Promise<void>, via?: Via): Promise<void> {
  return retrying(() => postOnce(w, policy.timeoutMs, via), policy, sleep);
}

/** retryWithBackoff: up to `maxRetries` attempts, `retryDelay * 2^i` between them; the last error is thrown. */
export async function retrying(attempt: () => Promise<void>, policy: Pick<DeliveryPolicy, 'maxRetries' | 'retryDelayMs'>, sleep: (ms: number) => Promise<void>): Promise<void> {
  let last: unknown;
  for (let i = 0; i < policy.maxRetries; i++) {
    try {
      await attempt();
      return;
    } catch (err) {
      last = err;
      if (i < policy.maxRetries - 1) await sleep(policy.retryDelayMs * 2 ** i);
    }
  }
  throw last;
}
