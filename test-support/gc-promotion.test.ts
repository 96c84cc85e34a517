import { describe, expect, it } from 'vitest';
import { measurePromotion } from './gc-promotion.js';

/**
 * Request-scoped structures must let a finished request die young. The two known retainers show the probe sees
 * the problem: with them nearly every request's payload is promoted; with the structures the gateway uses, almost
 * none is (only what happens to be in flight during two consecutive young GCs).
 */
describe('what survives into the old generation', () => {
  it.each([
    ['a Set of in-flight requests', 'set-of-in-flight'],
    ['an object literal with its own getter', 'getter-literal'],
    ['a wait for a coalesced write', 'mirror-awaited'],
  ])('the probe sees %s promote its requests', async (_what, scenario) => {
    const r = await measurePromotion(scenario);
    expect(r.promotedPerRequest).toBeGreaterThan(r.payloadBytes * 0.5);
  });

  it.each([
    ['the drain tracks in-flight responses', 'in-flight-list'],
    ['a deferred reply', 'deferred-reply'],
    ['a usage record that does not wait for its PostgreSQL mirror', 'mirror-detached'],
  ])('%s without promoting the requests', async (_what, scenario) => {
    const r = await measurePromotion(scenario);
    expect(r.promotedPerRequest).toBeLessThan(r.payloadBytes * 0.1);
  });
});
