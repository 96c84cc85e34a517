import type { RecordedRequest } from '../upstream-tap/recording.js';
import { firstByteDifference } from './response.js';

/**
 * The candidate's upstream request against the primary's, as the tap received them: method,
 * path, header names in order with values (Host and Content-Length are the transport's),
 * body bytes. Returns a one-line first divergence, or null when they match.
 */
const TRANSPORT_HEADERS = new Set(['host', 'content-length', 'connection', 'transfer-encoding']);

function headers(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!TRANSPORT_HEADERS.has(raw[i]!.toLowerCase())) out.push(`${raw[i]!.toLowerCase()}: ${raw[i + 1]!}`);
  }
  return out;
}

export function compareUpstreamRequest(primary: RecordedRequest, candidate: RecordedRequest): string | null {
  if (primary.method !== candidate.method) return `method ${primary.method} vs ${candidate.method}`;
  if (primary.url !== candidate.url) return `url ${primary.url} vs ${candidate.url}`;
  const ph = headers(primary.rawHeaders);
  const ch = headers(candidate.rawHeaders);
  for (let i = 0; i < Math.max(ph.length, ch.length); i++) {
    if (ph[i] !== ch[i]) return `header #${i}: ${ph[i] ?? '(none)'} vs ${ch[i] ?? '(none)'}`;
  }
  const at = firstByteDifference(primary.body, candidate.body);
  if (at < 0) return null;
  const show = (b: Buffer) => JSON.stringify(b.subarray(Math.max(0, at - 20), at + 30).toString('utf8'));
  return `body differs at byte ${at}: ${show(primary.body)} vs ${show(candidate.body)}`;
}
