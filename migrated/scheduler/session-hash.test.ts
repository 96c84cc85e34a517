import { describe, expect, it } from 'vitest';
import { sessionHashOf } from './session-hash.js';

describe('session hash (recorded values)', () => {
  it('first message text when nothing is cacheable', () => {
    expect(sessionHashOf({ messages: [{ role: 'user', content: 'Say hello from the pool key.' }] })).toBe('8aef6dbe1e55c4fb80d31f7ca36e0b84');
    expect(sessionHashOf({ messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello after 500.' }] }] })).toBe('0e29f94a4c6dfb44b5e774403f9e365b');
  });
  it('metadata.user_id session id is returned verbatim', () => {
    expect(sessionHashOf({ metadata: { user_id: 'user_x_account__session_11111111-2222-4333-8444-555555555555' }, messages: [] })).toBe(
      '11111111-2222-4333-8444-555555555555',
    );
  });
  it('system text (the OpenAI-compat constant) and cacheable content', () => {
    expect(sessionHashOf({ system: "You are Claude Code, Anthropic's official CLI for Claude.", messages: [{ role: 'user', content: 'x' }] })).toBe(
      '2719b7a469d904b3281d8488976f3310',
    );
    const messages = [
      { role: 'user', content: 'first' },
      { role: 'user', content: [{ type: 'text', text: 'second', cache_control: { type: 'ephemeral' } }] },
    ];
    // cacheable = ephemeral system text + the first message's text
    expect(sessionHashOf({ system: [{ type: 'text', text: 'S', cache_control: { type: 'ephemeral' } }], messages })).toBe(
      sessionHashOf({ system: 'Sfirst', messages: [] }),
    );
  });
  it('null without any text; non-string user_id throws like the legacy', () => {
    expect(sessionHashOf({ messages: [] })).toBeNull();
    expect(sessionHashOf(null)).toBeNull();
    expect(() => sessionHashOf({ metadata: { user_id: 5 }, messages: [] })).toThrow();
  });
});
