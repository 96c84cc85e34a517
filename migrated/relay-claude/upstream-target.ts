import type { UpstreamResponse } from '../upstream/h1/upstream-response.js';
import { connReset } from '../upstream/h1/exchange.js';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Readable } from 'node:stream';

/**
 * Where a relay call goes: the real URL per account type, or — when deps.upstreamOverride is
 * set (replays, shadow, tests) — the override origin with the same path and query.
 */
export function targetUrl(real: string, override: string | undefined): URL {
  const url = new URL(real);
  if (!override) return url;
  const base = new URL(override);
  return new URL(`${url.pathname}${url.search}`, base);
}

/** The official path: /v1/messages?beta=true, or count_tokens. */
export function officialUrl(countTokens: boolean): string {
  return countTokens ? 'https://api.anthropic.com/v1/messages/count_tokens?beta=true' : 'https://api.anthropic.com/v1/messages?beta=true';
}

/** Console endpoint from the account apiUrl (relay-claude.md §5.2). */
export function consoleUrl(apiUrl: string, countTokens: boolean): string {
  const clean = apiUrl.replace(/\/$/, '');
  if (countTokens) return `${clean.replace(/\/v1\/messages$/, '')}/v1/messages/count_tokens`;
  return clean.endsWith('/v1/messages') ? clean : `${clean}/v1/messages`;
}

/** Header pairs of an upstream response as Node's `res.headers` object has them (lower-case, first-seen order, duplicates joined). */
export function upstreamHeaderPairs(response: UpstreamResponse): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const index = new Map<string, number>();
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push([name, value]);
    } else if (name !== 'content-type' && name !== 'content-length' && name !== 'user-agent' && name !== 'authorization' && name !== 'host' && name !== 'date') {
      out[at] = [name, `${out[at]![1]}${name === 'cookie' ? '; ' : ', '}${value}`];
    }
  }
  return out;
}

/**
 * The Content-Encoding value as `response.headers` gives it (several joined with ', '), trimmed and lower-cased,
 * read from rawHeaders: the headers object is built on its first use (~25 us on a cold streamed response), and a
 * console stream needs nothing else from it.
 */
export function contentEncoding(raw: readonly string[]): string {
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 16 && name.toLowerCase() === 'content-encoding') value = value === undefined ? raw[i + 1]! : `${value}, ${raw[i + 1]!}`;
  }
  return (value ?? '').trim().toLowerCase();
}

/** Decoded body stream: gzip/deflate always; br too when `brotli` (axios decodes it, the official relay does not). */
export function decodedBody(response: UpstreamResponse, brotli: boolean): Readable {
  const enc = contentEncoding(response.rawHeaders);
  const decoder = enc === 'gzip' ? createGunzip() : enc === 'deflate' ? createInflate() : enc === 'br' && brotli ? createBrotliDecompress() : null;
  if (!decoder) return response;
  // a broken upstream body must fail the decoder too (pipe() does not forward errors)
  response.on('error', (err) => decoder.destroy(err));
  response.on('close', () => {
    if (!response.complete) decoder.destroy(connReset('socket hang up'));
  });
  return response.pipe(decoder);
}

/** The whole body; rejects when the stream fails or closes before its end. */
export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks));
    });
    stream.on('error', reject);
    stream.once('close', () => {
      if (!ended) reject(connReset('socket hang up'));
    });
  });
}

const NETWORK_MESSAGES: Record<string, string> = {
  ECONNRESET: 'Connection reset by Claude API server',
  ENOTFOUND: 'Unable to resolve Claude API hostname',
  ECONNREFUSED: 'Connection refused by Claude API server',
  ETIMEDOUT: 'Connection timed out to Claude API server',
};

/** The official relay's wording of an upstream network error. */
export function officialNetworkMessage(err: unknown): string {
  const code = (err as { code?: string })?.code ?? '';
  if (code === 'TIMEOUT') return 'Request timeout';
  return NETWORK_MESSAGES[code] ?? 'Upstream request failed';
}
