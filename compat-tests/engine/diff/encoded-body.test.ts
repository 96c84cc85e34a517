import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { brotliCompressSync, constants, deflateSync, gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../../test-support/paths.js';
import { decodeBytes, encodeBytes } from '../format/bytes.js';
import type { Exchange } from '../format/exchange.js';
import { readExchange } from '../format/suite-store.js';
import { compileNoise, readNoiseFile, type NoiseFile } from '../noise/rules.js';
import { contentEncoding } from './encoded-body.js';
import { diffExchange, type Observed } from './exchange-diff.js';

/**
 * Compressed bodies (the legacy's `compression` middleware answers gzip/deflate/br when the client
 * accepts it): compared after decoding, with the usual JSON view and noise rules.
 */
const suiteDir = join(projectRoot, 'compat-tests', 'suites', 'legacy-shared');
let defaults: NoiseFile;

const encoders: Record<string, (b: Buffer, level: number) => Buffer> = {
  gzip: (b, level) => gzipSync(b, { level }),
  deflate: (b, level) => deflateSync(b, { level }),
  br: (b, level) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: level } }),
};

const etagOf = (b: Buffer) => `W/"${b.length.toString(16)}-${createHash('sha1').update(b).digest('base64').slice(0, 27)}"`;

/** The headers `compression` sends: no Content-Length, Content-Encoding added; the ETag of the plain body. */
function compressedHeaders(raw: readonly string[], encoding: string | null, plain: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-length') continue;
    if (name === 'etag') out.push(raw[i]!, etagOf(plain));
    else out.push(raw[i]!, raw[i + 1]!);
    if (name === 'vary' && encoding) out.push('Content-Encoding', encoding);
  }
  return out;
}

/** The recorded 14-openai-chat-nonstream, as if the client had accepted `encoding`. */
function recorded(encoding: string): { ex: Exchange; plain: string } {
  const ex = readExchange(suiteDir, '14-openai-chat-nonstream');
  const plain = decodeBytes(ex.response.body);
  ex.response.rawHeaders = compressedHeaders(ex.response.rawHeaders, encoding, plain);
  ex.response.body = encodeBytes(encoders[encoding]!(plain, 6));
  return { ex, plain: plain.toString('utf8') };
}

function observed(ex: Exchange, body: string, encoding: string | null, level = 1): Observed {
  const copy = structuredClone(ex);
  const plain = Buffer.from(body, 'utf8');
  const headers = compressedHeaders(copy.response.rawHeaders.filter((_, i, a) => !/^content-encoding$/i.test(a[i - (i % 2)]!)), encoding, plain);
  return {
    response: { status: 200, rawHeaders: headers, body: encoding ? encoders[encoding]!(plain, level) : plain },
    upstream: copy.upstream,
    redisAfter: copy.redis.after,
    pgAfter: copy.pg?.after ?? null,
  };
}

const run = (ex: Exchange, obs: Observed, route: string | null = 'openai-claude-chat') => diffExchange(ex, obs, compileNoise([defaults], ex.name, route));

beforeAll(() => {
  defaults = readNoiseFile(join(projectRoot, 'compat-tests', 'noise.default.json'));
});

describe('compressed response bodies', () => {
  for (const encoding of ['gzip', 'deflate', 'br']) {
    it(`${encoding}: decoded JSON differing only in the chatcmpl id is identical, every ignored byte counted`, () => {
      const { ex, plain } = recorded(encoding);
      const otherId = plain.replace(/chatcmpl-[a-z0-9]+/, 'chatcmpl-0000otherrandom0000');
      const obs = observed(ex, otherId, encoding, 1);
      expect(obs.response.body.equals(decodeBytes(ex.response.body))).toBe(false);
      const d = run(ex, obs);
      expect(d.differences).toEqual([]);
      const id = JSON.parse(plain).id as string;
      expect(d.ignored.byRule['rule:openai-chat-completion-id']).toEqual({ count: 1, bytes: Buffer.byteLength(JSON.stringify(id)) });
      expect(d.ignored.byRule['rule:etag-follows-body']?.count).toBe(1);
      expect(d.ignored.byRule[`encoding:${encoding}`]).toEqual({ count: 1, bytes: decodeBytes(ex.response.body).length });
    });
  }

  it('the same compressed body with a real one-field change is reported at the decoded JSON path', () => {
    const { ex, plain } = recorded('gzip');
    const changed = plain.replace('"total_tokens":63', '"total_tokens":64');
    expect(changed).not.toBe(plain);
    const d = run(ex, observed(ex, changed, 'gzip'));
    expect(d.differences).toHaveLength(1);
    const diff = d.differences[0]!;
    expect(diff.path).toBe('response.body(decoded gzip)$.usage.total_tokens');
    expect([diff.expected, diff.actual]).toEqual(['63', '64']);
    expect(diff.byteOffset).toBe(plain.indexOf('"total_tokens":63') + '"total_tokens":6'.length);
    expect(diff.detail?.[0]).toMatch(/compared after decoding: offsets and context are in the decoded bytes/);
    expect(d.ignored.byRule['encoding:gzip']).toBeUndefined();
  });

  it('the chatcmpl rule is scoped: another route, or an id of another form, is reported', () => {
    const { ex, plain } = recorded('gzip');
    const otherId = plain.replace(/chatcmpl-[a-z0-9]+/, 'chatcmpl-0000otherrandom0000');
    expect(run(ex, observed(ex, otherId, 'gzip'), 'claude-messages').differences.map((x) => x.path)).toEqual(['response.body(decoded gzip)$.id']);
    const msgId = plain.replace(/chatcmpl-[a-z0-9]+/, 'msg_0000otherrandom0000');
    const d = run(ex, observed(ex, msgId, 'gzip'));
    expect(d.differences.map((x) => x.path)).toEqual(['response.body(decoded gzip)$.id']);
  });

  it('the chatcmpl rule covers every chunk of the stream, and nothing else in it', () => {
    const ex = readExchange(suiteDir, '15-openai-chat-stream');
    const plain = decodeBytes(ex.response.body).toString('utf8');
    const id = /chatcmpl-[a-z0-9]+/.exec(plain)![0];
    const events = plain.split(id).length - 1;
    expect(events).toBeGreaterThan(2);
    const obs = observed(ex, plain.split(id).join('chatcmpl-0000otherrandom0000'), null);
    obs.response.rawHeaders = structuredClone(ex.response.rawHeaders);
    const d = run(ex, obs);
    expect(d.differences).toEqual([]);
    expect(d.ignored.byRule['rule:openai-chat-completion-id']?.count).toBe(events);
    const obs2 = observed(ex, plain.split(id).join('chatcmpl-0000otherrandom0000').replace('"index":0', '"index":1'), null);
    obs2.response.rawHeaders = structuredClone(ex.response.rawHeaders);
    expect(run(ex, obs2).differences.map((x) => x.path)).toEqual(['response.body#event[0]$.choices[0].index']);
  });

  it('mismatched encodings: the header and the raw bodies are reported, saying why they were not decoded', () => {
    const { ex, plain } = recorded('gzip');
    const d = run(ex, observed(ex, plain, null));
    expect(d.differences.map((x) => `${x.path} ${x.kind}`)).toEqual(['response.header.content-encoding missing', 'response.body changed']);
    const body = d.differences[1]!;
    expect(body.detail?.[0]).toBe('Content-Encoding differs (recorded gzip, observed none): bodies compared as raw bytes');
    const d2 = run(ex, observed(ex, plain, 'br'));
    expect(d2.differences.map((x) => x.path)).toContain('response.header.content-encoding');
    expect(d2.differences.find((x) => x.path === 'response.body')?.detail?.[0]).toBe('Content-Encoding differs (recorded gzip, observed br): bodies compared as raw bytes');
  });

  it('a body that does not decode is compared raw, and the difference says so', () => {
    const { ex, plain } = recorded('gzip');
    const obs = observed(ex, plain, 'gzip');
    obs.response.body = obs.response.body.subarray(0, obs.response.body.length - 12);
    const d = run(ex, obs);
    expect(d.differences).toHaveLength(1);
    expect(d.differences[0]!.path).toBe('response.body');
    expect(d.differences[0]!.detail?.[0]).toMatch(/^the observed gzip body does not decode \(.+\): bodies compared as raw bytes$/);
  });

  it('reads Content-Encoding from raw headers in any case, ignoring identity', () => {
    expect(contentEncoding(['content-type', 'x', 'Content-Encoding', 'GZIP'])).toBe('gzip');
    expect(contentEncoding(['Content-Encoding', 'identity'])).toBe('');
    expect(contentEncoding(['Content-Encoding', 'gzip, br'])).toBe('gzip, br');
  });
});
