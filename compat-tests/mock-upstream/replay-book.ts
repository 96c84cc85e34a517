import { decodeBytes } from '../engine/format/bytes.js';
import type { UpstreamExchange } from '../engine/format/exchange.js';
import { write, type Plan, type Step } from './plan.js';

/**
 * Recorded upstream answers for replay mode. A request takes the first unused entry with the
 * same method, URL and body bytes; if none matches, the first unused entry with the same method
 * and path (the diff will show how the request differed). Entries without a recorded body
 * (imported traces know only the status) are not served: the deterministic generator answers.
 */
export type ReplayEntry = UpstreamExchange;

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'date']);

export function planFromRecorded(e: ReplayEntry): Plan | null {
  const r = e.response;
  if (!r.body) return null;
  const headers: Record<string, string> = {};
  const raw = r.rawHeaders ?? [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) headers[raw[i]!] = raw[i + 1]!;
  const body = decodeBytes(r.body);
  const steps: Step[] = [];
  let at = 0;
  for (const c of r.chunks ?? []) {
    if (c.bytes <= 0) continue;
    steps.push(write(body.subarray(at, at + c.bytes)));
    at += c.bytes;
  }
  if (at < body.length) steps.push(write(body.subarray(at)));
  return { status: r.status, headers, steps };
}

export class ReplayBook {
  private entries: Array<{ e: ReplayEntry; used: boolean }>;
  constructor(entries: ReplayEntry[]) {
    this.entries = entries.map((e) => ({ e, used: false }));
  }
  replace(entries: ReplayEntry[]): void {
    this.entries = entries.map((e) => ({ e, used: false }));
  }
  take(method: string, url: string, body: Buffer): Plan | null {
    const path = url.split('?')[0];
    const exact = this.entries.find((x) => !x.used && x.e.method === method && x.e.url === url && decodeBytes(x.e.body).equals(body));
    const loose = exact ?? this.entries.find((x) => !x.used && x.e.method === method && x.e.url.split('?')[0] === path);
    if (!loose) return null;
    loose.used = true;
    return planFromRecorded(loose.e);
  }
}
