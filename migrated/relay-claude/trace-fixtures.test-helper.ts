import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { legacyTracesDir } from '../../test-support/paths.js';

export interface UpstreamRecord {
  method: string;
  url: string;
  rawHeaders: string[];
  bodyRaw: string;
  status: number;
}

export interface TraceRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export function traceRequest(name: string): TraceRequest {
  return JSON.parse(readFileSync(join(legacyTracesDir, name, 'request.json'), 'utf8')) as TraceRequest;
}

export function traceUpstream(name: string): UpstreamRecord[] {
  return JSON.parse(readFileSync(join(legacyTracesDir, name, 'upstream.json'), 'utf8')) as UpstreamRecord[];
}

export function traceResponseBody(name: string): Buffer {
  return readFileSync(join(legacyTracesDir, name, 'response.body'));
}

export function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
