import { afterAll, beforeAll, expect, it } from 'vitest';
import { startMockUpstream, type MockUpstream } from '../../compat-tests/mock-upstream/server.js';
import { privateSchema, type PrivateSchema } from '../../test-support/postgres.js';
import { useRelayFixture } from '../../test-support/relay-fixture.js';
import { holdRowLock } from '../pg/row-lock.test-helper.js';
import { PgStore } from '../pg/store.js';
import { send } from '../routes/shared/trace-replay.test-helper.js';
import { frozenClock } from '../runtime/clock.js';
import { createClaudeMessagesModule } from './messages-module.js';
import { KEYS, serveRelay } from './relay-harness.test-helper.js';

/**
 * Closing the relay module (gateway shutdown) waits for the PostgreSQL dual-write still pending: the
 * coalesced api_keys upserts are flushed before the runner ends the PostgreSQL client.
 */
const AT = Date.parse('2026-11-26T11:52:04.000Z');
const fx = useRelayFixture({ trace: '07-messages-nonstream-console', atMs: AT });
const KEY_ID = '1857b79d-0174-4bfa-a1d1-75ab45ea91a6'; // the Console-bound key of the recording

let mock: MockUpstream;
let pg: PrivateSchema;
beforeAll(async () => {
  mock = await startMockUpstream();
  pg = await privateSchema('gwclose');
  expect(await new PgStore(pg.sql, frozenClock(AT), { warn: () => {} }).ensureSchema()).toBe(true);
});
afterAll(async () => {
  await pg?.drop();
  await mock?.close();
});

const body = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'close' }] });
const relay = (port: number) => send(port, 'POST', '/api/v1/messages', [['x-api-key', KEYS.console], ['content-type', 'application/json']], body);
const row = async () => (await pg.sql.unsafe<Array<{ data: Record<string, unknown> }>>('select data from api_keys where id = $1', [KEY_ID]))[0]?.data;

it('close() resolves only after the pending api_keys upsert is written', async () => {
  const h = await serveRelay(createClaudeMessagesModule, fx.redis, { atMs: AT, upstreamOverride: mock.url, pg: pg.sql });
  let closed = false;
  try {
    expect((await relay(h.port)).status).toBe(200);
    while (!(await row())) await new Promise((r) => setTimeout(r, 10)); // the first upsert created the row
    const lock = await holdRowLock(pg.sql, 'api_keys', KEY_ID);
    h.clock.set(AT + 60_000);
    expect((await relay(h.port)).status).toBe(200); // its upsert blocks on the lock
    await lock.waiterSeen();
    h.clock.set(AT + 120_000);
    expect((await relay(h.port)).status).toBe(200); // its upsert waits behind the blocked one
    const closing = h.module.close!().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBe(false); // still flushing: the lock holds the first statement
    await lock.release();
    await closing;
    // the last request's state is in PostgreSQL by the time close() resolved
    expect((await row())?.['lastUsedAt']).toBe(new Date(AT + 120_000).toISOString());
  } finally {
    await h.close();
  }
});
