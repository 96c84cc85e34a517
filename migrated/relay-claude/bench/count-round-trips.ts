/**
 * Redis traffic of one `claude-messages` request (trace 07's Console key, non-stream and stream,
 * against a local bench upstream): socket writes, sequential waves and the commands, per request.
 * `npx tsx migrated/relay-claude/bench/count-round-trips.ts`
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { legacyTracesDir } from '../../../test-support/paths.js';
import { startPrivateRedis } from '../../../test-support/redis-server.js';
import { loadRedisSnapshot, type RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import { systemClock } from '../../runtime/clock.js';
import { createClaudeMessagesModule } from '../messages-module.js';
import { serveRelay, KEYS } from '../relay-harness.test-helper.js';
import { countRedisTraffic } from '../redis-traffic.test-helper.js';

const origin = createServer((req, res) => {
  let raw = '';
  req.on('data', (c: Buffer) => (raw += c.toString()));
  req.on('end', () => {
    const stream = raw.includes('"stream":true');
    if (!stream) {
      const b = JSON.stringify({ id: 'msg_b', type: 'message', role: 'assistant', model: 'claude-sonnet-4-5-20250929', content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 8 } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) });
      res.end(b);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":20,"output_tokens":1}}}\n\n' +
        'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":8}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
  });
});
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
const redisServer = await startPrivateRedis();
const redis = redisServer.client();
await loadRedisSnapshot(redis, JSON.parse(readFileSync(join(legacyTracesDir, '07-messages-nonstream-console', 'redis.before.json'), 'utf8')) as RedisSnapshot);
const h = await serveRelay(createClaudeMessagesModule, redis, { atMs: systemClock(8).now(), upstreamOverride: `http://127.0.0.1:${(origin.address() as AddressInfo).port}` });
const traffic = await countRedisTraffic(redis);
const send = (stream: boolean) =>
  fetch(`http://127.0.0.1:${h.port}/api/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': KEYS.console, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-4-5-20250929', max_tokens: 64, ...(stream ? { stream: true } : {}), messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (r) => ({ status: r.status, text: await r.text() }));
for (const stream of [false, true]) {
  await send(stream); // warm-up: script loads, config caches
  await new Promise((r) => setTimeout(r, 30));
  traffic.reset();
  const r = await send(stream);
  const beforeResponse = { writes: traffic.writes, waves: traffic.waves };
  await new Promise((r) => setTimeout(r, 50));
  console.log(`${stream ? 'stream' : 'non-stream'}: status ${r.status}; until response: ${beforeResponse.writes} writes / ${beforeResponse.waves} waves; total ${traffic.writes} writes / ${traffic.waves} waves`);
  console.log('  ' + traffic.commands.join(' '));
}
traffic.stop();
await h.close();
origin.close();
redis.disconnect();
await redisServer.stop();
