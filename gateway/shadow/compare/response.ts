import type { CapturedResponse } from '../../server/shadow-sink.js';

/**
 * Response comparison for the shadow: status, header names in order and values, body bytes.
 * Reports the FIRST divergence (where, byte offset, SSE event index, both sides' bytes around it).
 * Header noise (values that differ between any two runs: Date, request ids) comes from the
 * noise rules; a noisy header must still be present on both sides.
 */

export interface ResponseNoise {
  /** Lower-case header names whose values are ignored. */
  headerValues: string[];
  /** Lower-case header names ignored entirely (added by the HTTP stack, not by the service). */
  headersIgnored: string[];
}

export const DEFAULT_RESPONSE_NOISE: ResponseNoise = {
  headerValues: ['date', 'x-request-id', 'request-id', 'etag', 'x-response-time'],
  headersIgnored: ['connection', 'keep-alive'],
};

export interface Divergence {
  where: 'candidate-error' | 'status' | 'header' | 'body' | 'truncated';
  detail: string;
  offset?: number;
  /** 0-based SSE event index containing the first differing byte. */
  event?: number;
  expected?: string;
  actual?: string;
}

function headerPairs(raw: string[], noise: ResponseNoise): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (noise.headersIgnored.includes(lower)) continue;
    out.push([raw[i]!, noise.headerValues.includes(lower) ? '(noise)' : raw[i + 1]!]);
  }
  return out;
}

function isSse(raw: string[]): boolean {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'content-type') return raw[i + 1]!.toLowerCase().includes('text/event-stream');
  }
  return false;
}

function around(buf: Buffer, offset: number): string {
  return buf.subarray(Math.max(0, offset - 24), offset + 40).toString('utf8');
}

export function firstByteDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export function compareResponses(primary: CapturedResponse, candidate: CapturedResponse, noise: ResponseNoise = DEFAULT_RESPONSE_NOISE): Divergence | null {
  if (candidate.error && candidate.status === 0) return { where: 'candidate-error', detail: candidate.error };
  if (primary.status !== candidate.status) {
    return { where: 'status', detail: `status ${primary.status} vs ${candidate.status}`, expected: String(primary.status), actual: String(candidate.status) };
  }
  const ph = headerPairs(primary.rawHeaders, noise);
  const ch = headerPairs(candidate.rawHeaders, noise);
  for (let i = 0; i < Math.max(ph.length, ch.length); i++) {
    const p = ph[i];
    const c = ch[i];
    if (!p || !c || p[0] !== c[0] || p[1] !== c[1]) {
      return {
        where: 'header',
        detail: `header #${i}: ${p ? `${p[0]}: ${p[1]}` : '(none)'} vs ${c ? `${c[0]}: ${c[1]}` : '(none)'}`,
        expected: p ? `${p[0]}: ${p[1]}` : '',
        actual: c ? `${c[0]}: ${c[1]}` : '',
      };
    }
  }
  if (primary.truncated || candidate.truncated) {
    return { where: 'truncated', detail: 'body longer than the capture limit: not compared' };
  }
  const offset = firstByteDifference(primary.body, candidate.body);
  if (offset < 0) return null;
  const sse = isSse(primary.rawHeaders);
  const event = sse ? primary.body.subarray(0, offset).toString('latin1').split('\n\n').length - 1 : undefined;
  return {
    where: 'body',
    detail: `body differs at byte ${offset}${event !== undefined ? ` (SSE event ${event})` : ''}; lengths ${primary.body.length} vs ${candidate.body.length}`,
    offset,
    ...(event !== undefined ? { event } : {}),
    expected: around(primary.body, offset),
    actual: around(candidate.body, offset),
  };
}
