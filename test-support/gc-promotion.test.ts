import { describe, expect, it } from 'vitest';
import { measurePromotion } from './gc-promotion.js';

/**
 * Request-scoped structures must let a finished request die young. The two known retainers show the probe sees
 * the problem: with them nearly every request's payload is promoted; with the structures the gateway uses, almost
 * none is (only what happens to be in flight during two consecutive young GCs).
 */
describe('what survives into the old generation', () => {
  it('the probe sees a Set of in-flight requests promote them', async () => {
    const r = await measurePromotion('set-of-in-flight');
    expect(r.promotedPerRequest).toBeGreaterThan(r.payloadBytes * 0.5);
  });

  it('the probe sees an object literal with its own getter promote its request', async () => {
    const r = await measurePromotion('getter-literal');
    expect(r.promotedPerRequest).toBeGreaterThan(r.payloadBytes * 0.5);
  });

  it('the drain tracks in-flight responses without promoting them', async () => {
    const r = await measurePromotion('in-flight-list');
    expect(r.promotedPerRequest).toBeLessThan(r.payloadBytes * 0.1);
  });

  it('a deferred reply does not promote its request', async () => {
    const r = await measurePromotion('deferred-reply');
    expect(r.promotedPerRequest).toBeLessThan(r.payloadBytes * 0.1);
  });
});
