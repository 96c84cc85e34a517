import { describe, expect, it } from 'vitest';
import { DEFAULT_NOISE_FILE, loadShadowNoise, loadShadowNoiseByRoute } from './noise.js';

describe('shadow noise per route', () => {
  it('applies a route-scoped rule of the shared noise file only to its own route', () => {
    const byRoute = loadShadowNoiseByRoute([DEFAULT_NOISE_FILE]);
    const chatId = ['chatcmpl-abc123', 'chatcmpl-xyz789'];
    // the chat-completion id rule is scoped to openai-claude-chat in compat-tests/noise.default.json
    expect(byRoute('openai-claude-chat').ruleFor('response.body$.id', chatId)).toBeDefined();
    expect(byRoute('claude-messages').ruleFor('response.body$.id', chatId)).toBeUndefined();
    // rules without a route scope apply everywhere
    const unscoped = loadShadowNoise([DEFAULT_NOISE_FILE]).rules.filter((r) => !r.routes).length;
    expect(byRoute('claude-messages').rules.filter((r) => !r.routes).length).toBe(unscoped);
    // compiled once per route
    expect(byRoute('models')).toBe(byRoute('models'));
  });

  it("the legacy's background cost-rank writes are never a request's side effect; request keys still are", () => {
    const noise = loadShadowNoiseByRoute([DEFAULT_NOISE_FILE])('openai-claude-chat');
    expect(noise.ruleFor('redis.cost_rank:today', ['zset 3'])?.id).toBe('legacy-cost-rank-job');
    expect(noise.ruleFor('redis.cost_rank_meta:today', ['hash 4'])?.id).toBe('legacy-cost-rank-job');
    expect(noise.ruleFor('redis.usage:daily:k1:2026-11-26', ['hash 6'])).toBeUndefined();
  });
});
