import { describe, expect, it } from 'vitest';
import { parseDataLine } from './sse-framer.js';
import { ConsoleUsageCollector, OfficialUsageCollector, usageForRecording } from './usage.js';
import { traceResponseBody } from './trace-fixtures.test-helper.js';

function events(name: string): unknown[] {
  return traceResponseBody(name)
    .toString('utf8')
    .split('\n')
    .map(parseDataLine)
    .filter((e) => e !== undefined);
}

describe('official usage', () => {
  it('sums message_start + message_delta of the recorded stream (06)', () => {
    const c = new OfficialUsageCollector('req-model');
    for (const e of events('06-messages-stream-oauth')) c.feed(e);
    const u = c.finish()!;
    expect(u).toMatchObject({ input_tokens: 49, cache_creation_input_tokens: 12, cache_read_input_tokens: 34, model: 'claude-sonnet-4-5-20250929' });
    expect(u.cache_creation).toEqual({ ephemeral_5m_input_tokens: 12, ephemeral_1h_input_tokens: 0 });
    expect(u.output_tokens).toBeGreaterThan(0);
    expect(usageForRecording(u).cache_creation_input_tokens).toBe(12);
  });

  it('counts two message pairs once each and defaults a missing output to 0', () => {
    const c = new OfficialUsageCollector('m');
    c.feed({ type: 'message_start', message: { model: 'a', usage: { input_tokens: 5 } } });
    c.feed({ type: 'message_delta', usage: { output_tokens: 3 } });
    c.feed({ type: 'message_start', message: { model: 'b', usage: { input_tokens: 7 } } });
    expect(c.finish()).toEqual({ input_tokens: 12, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, model: 'b' });
  });

  it('nothing seen → null; rate-limit error text detected', () => {
    const c = new OfficialUsageCollector('m');
    c.feed({ type: 'error', error: { message: "You exceed your account's rate limit" } });
    expect(c.finish()).toBeNull();
    expect(c.rateLimitDetected).toBe(true);
  });
});

describe('console usage', () => {
  it('reports at the first complete message_delta, once (08)', () => {
    const c = new ConsoleUsageCollector('req');
    const reports = events('08-messages-stream-console').map((e) => c.feed(e)).filter(Boolean);
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });
    expect(c.finish()).toBeNull();
  });

  it('falls back at end with output 0 when the stream errors before message_delta (22)', () => {
    const c = new ConsoleUsageCollector('req');
    const reports = events('22-stream-midstream-error-console').map((e) => c.feed(e)).filter(Boolean);
    expect(reports).toHaveLength(0);
    const u = c.finish()!;
    expect(u.output_tokens).toBe(0);
    expect(u.input_tokens).toBeGreaterThan(0);
  });
});
