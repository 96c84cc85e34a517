import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../test-support/redis-server.js';
import { storeKey } from '../auth/auth-test-kit.test-helper.js';
import { createHealthModule } from './health/index.js';
import { createModelsModule } from './models/index.js';
import { send, serveModule } from './shared/trace-replay.test-helper.js';

/** Redis goes away: clear answers in the legacy's shapes, no crash, no hang. */
let server: PrivateRedis;
let redis: Redis;
let stopped = false;
beforeAll(async () => {
  server = await startPrivateRedis();
  // like the gateway's client: a command fails fast instead of queueing while Redis is away
  redis = new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200 });
  redis.on('error', () => {});
  await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
});
afterAll(async () => {
  redis.disconnect();
  if (!stopped) await server.stop();
});

describe('Redis unavailable', () => {
  it('API-key routes answer 401 Internal validation error (validateApiKey catches), /health stays 200 with redis unhealthy', async () => {
    const k = await storeKey(redis);
    const models = await serveModule(createModelsModule, redis);
    const health = await serveModule(createHealthModule, redis);
    try {
      const ok = await send(models.port, 'GET', '/api/v1/models', [['x-api-key', k.raw]]);
      expect(ok.status).toBe(200);
      await server.stop();
      stopped = true;
      const started = performance.now();
      const down = await send(models.port, 'GET', '/api/v1/models', [['x-api-key', k.raw]]);
      expect(performance.now() - started).toBeLessThan(5000);
      expect(down.status).toBe(401);
      expect(down.body.toString()).toBe('{"error":"Invalid API key","message":"Internal validation error"}');
      const h = await send(health.port, 'GET', '/health', []);
      expect(h.status).toBe(200);
      const body = JSON.parse(h.body.toString()) as { components: { redis: Record<string, unknown> } };
      expect(body.components.redis.status).toBe('unhealthy');
      expect(body.components.redis.connected).toBe(false);
    } finally {
      await models.close();
      await health.close();
    }
  });
});
