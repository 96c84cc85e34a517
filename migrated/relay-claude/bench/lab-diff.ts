/**
 * Differential run against the real legacy (docs/legacy-lab.md), shadow-style: for each scenario the
 * lab's Redis state is copied into a private Redis (the lab's Redis is only read: SCAN/DUMP/PTTL and
 * canonical reads), the same request goes to the legacy and to the migrated module (both calling the
 * lab mock upstream — the OAuth account through its CONNECT/TLS proxy), and the two are compared:
 * status, header list, body bytes, the upstream request each sent, and the Redis after-state.
 * Only success scenarios (no account-marking errors: the lab is shared).
 *
 *   npx tsx migrated/relay-claude/bench/lab-diff.ts [rounds] [features]
 *
 * Modules live for the whole run (as in the gateway), so rounds >= 2 also exercise the key read-ahead.
 *
 * `features` runs the claude_relay_config features instead (user-message queue, global session
 * binding): each scenario switches them on through the admin API; a held queue lock or a session
 * binding a scenario needs is written to the lab Redis and deleted after it; at the end the lab's
 * `claude_relay_config` is put back as it was (the legacy re-reads it within 60 s).
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { pino } from 'pino';
import { loadConfig } from '../../../gateway/config/env.js';
import { startPrivateRedis } from '../../../test-support/redis-server.js';
import { requireLabEnv } from '../../../bench/lib/lab-env.js';
import { diffRedisSnapshots, dumpRedisSnapshot, type RedisSnapshot } from '../../../test-support/redis-snapshot.js';
import { systemClock } from '../../runtime/clock.js';
import { systemIds } from '../../runtime/ids.js';
import type { MigratedModuleFactory } from '../../module.js';

const UPSTREAM_CA_FILE = process.env.GATEWAY_UPSTREAM_CA_FILE ?? '/work/shared/lab/certs/ca.pem';
const { createClaudeMessagesModule } = await import('../messages-module.js');
const { createClaudeCountTokensModule } = await import('../count-tokens-module.js');
const { createOpenAiClaudeChatModule } = await import('../openai-chat-module.js');

const env = requireLabEnv('LAB_CONSOLE_KEY');
const LEGACY = 'http://127.0.0.1:3000';
const MOCK = 'http://127.0.0.1:18080';
const lab = new Redis({ port: 6391, host: '127.0.0.1' });
const priv = await startPrivateRedis();
const mine = priv.client();

interface Wire {
  status: number;
  headers: string[];
  body: string;
}
/** One request on a fresh keep-alive connection (a real client's `Connection: keep-alive`; `close` is forwarded upstream by the legacy only). */
function call(base: string, path: string, headers: Record<string, string>, body: string): Promise<Wire> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Wire>((resolve, reject) => {
    const url = new URL(path, base);
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) h.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ status: res.statusCode ?? 0, headers: h, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  }).finally(() => agent.destroy());
}
async function mockSince(seq: number): Promise<Array<{ method: string; url: string; rawHeaders: string[]; bodyRaw: string }>> {
  const r = await fetch(`${MOCK}/__mock/requests?since=${seq}`);
  return ((await r.json()) as { requests: Array<{ method: string; url: string; rawHeaders: string[]; bodyRaw: string }> }).requests;
}
async function mockSeq(): Promise<number> {
  return ((await (await fetch(`${MOCK}/__mock/stats`)).json()) as { seq: number }).seq;
}
async function copyLabState(): Promise<void> {
  await mine.flushdb();
  let cursor = '0';
  do {
    const [next, keys] = await lab.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const [dump, pttl] = await Promise.all([lab.dumpBuffer(k), lab.pttl(k)]);
      if (dump) await mine.restore(k, pttl > 0 ? pttl : 0, dump, 'REPLACE');
    }
  } while (cursor !== '0');
}

async function serve(factory: MigratedModuleFactory): Promise<{ url: string; close(): Promise<void> }> {
  const module = factory({
    config: loadConfig({ ENCRYPTION_KEY: 'lab-encryption-key-32chars-00000', LOG_LEVEL: 'silent', GATEWAY_UPSTREAM_CA_FILE: UPSTREAM_CA_FILE } as NodeJS.ProcessEnv),
    redis: mine,
    pg: null,
    clock: systemClock(8),
    ids: systemIds(),
    log: pino({ level: 'silent' }),
  });
  const server = createServer((req, res) => {
    const ac = new AbortController();
    res.on('close', () => !res.writableFinished && ac.abort());
    void module.handle(req, res, { routeId: 'lab-diff', params: {}, signal: ac.signal, clientIp: '127.0.0.1' });
  });
  server.keepAliveTimeout = 605_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      await module.close?.();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const NOISY_HEADER = /^(date|x-request-id|etag|request-id|anthropic-ratelimit-unified-5h-reset|anthropic-ratelimit-unified-reset|keep-alive|connection|content-length): /i;
const normHeaders = (h: string[]) => h.map((x) => (NOISY_HEADER.test(x) ? x.slice(0, x.indexOf(':')) : x));
const normBody = (b: string) =>
  b
    .replace(/"timestamp":"[^"]+"/g, '"timestamp":"<t>"')
    .replace(/chatcmpl-[0-9a-z]+/g, 'chatcmpl-<id>')
    .replace(/"created":\d+/g, '"created":0');
const TIME_FIELDS = ['lastUsedAt', 'lastRequestTime', 'rateLimitedAt', 'sessionWindowStatusUpdatedAt', 'activatedAt', 'updatedAt'];
function normSnap(s: RedisSnapshot): RedisSnapshot {
  const out: RedisSnapshot = {};
  const strip = (j: string) => j.replace(/"(timestamp|eventId|requestTimestamp|updatedAt|createdAt|lastUsedAt)":"[^"]+"/g, '"$1":"<t>"');
  for (const [k, e] of Object.entries(s)) {
    if (k.startsWith('system:metrics:minute:') || k.startsWith('concurrency:')) continue;
    if (e.type === 'list') out[k] = { ...e, value: e.value.map(strip) };
    else if (e.type === 'stream') out[k] = { ...e, value: e.value.map(([, f]) => ['<id>', f.map(strip)] as [string, string[]]) };
    else if (e.type === 'string' && k.startsWith('user_msg_queue_last:')) out[k] = { type: 'string', ttl: e.ttl, value: '<release ms>' };
    else if (e.type === 'string') out[k] = { type: 'string', ttl: e.ttl, value: strip(e.value) };
    else if (e.type === 'hash' && !Array.isArray(e.value) && e.value['quotaStoppedAt']) out[k] = { ...e, value: { ...e.value, quotaStoppedAt: '<stop time>' } };
    else out[k] = e;
  }
  return out;
}

interface Scenario {
  name: string;
  path: string;
  key: string;
  body: unknown;
  extra?: Record<string, string>;
  factory: MigratedModuleFactory;
  /** Lab preparation before the state copy (admin API, keys the scenario needs) and its undoing. */
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

const baseScenarios: Scenario[] = [
  { name: 'console non-stream', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, messages: [{ role: 'user', content: 'lab diff console' }] }, factory: createClaudeMessagesModule },
  { name: 'console stream', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'lab diff console stream' }] }, factory: createClaudeMessagesModule },
  { name: 'oauth non-stream (CONNECT/TLS)', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, system: 'Be brief.', top_p: 0.5, messages: [{ role: 'user', content: 'lab diff oauth' }] }, factory: createClaudeMessagesModule },
  { name: 'oauth stream, claude-code shaped', path: '/claude/v1/messages', key: env['LAB_OAUTH_KEY']!, extra: { 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14', 'user-agent': 'claude-cli/2.0.14 (external, cli)', 'x-stainless-lang': 'js', 'x-stainless-os': 'Linux', 'x-stainless-arch': 'x64', 'x-stainless-runtime': 'node' }, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64000000, stream: true, system: [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude.", cache_control: { type: 'ephemeral', ttl: '1h' } }], metadata: { user_id: `user_${'cd'.repeat(32)}_account__session_aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee` }, messages: [{ role: 'user', content: [{ type: 'text', text: 'lab diff code' }] }] }, factory: createClaudeMessagesModule },
  { name: 'pool non-stream', path: '/api/v1/messages', key: env['LAB_POOL_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, messages: [{ role: 'user', content: 'lab diff pool' }] }, factory: createClaudeMessagesModule },
  { name: 'count_tokens oauth', path: '/api/v1/messages/count_tokens', key: env['LAB_OAUTH_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', messages: [{ role: 'user', content: 'count me' }] }, factory: createClaudeCountTokensModule },
  { name: 'count_tokens console', path: '/api/v1/messages/count_tokens', key: env['LAB_CONSOLE_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', messages: [{ role: 'user', content: 'count me' }] }, factory: createClaudeCountTokensModule },
  { name: 'openai chat non-stream', path: '/openai/claude/v1/chat/completions', key: env['LAB_OAUTH_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, messages: [{ role: 'system', content: 'x' }, { role: 'user', content: 'lab diff openai' }] }, factory: createOpenAiClaudeChatModule },
  { name: 'openai chat stream', path: '/openai/claude/v1/chat/completions', key: env['LAB_OAUTH_KEY']!, body: { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'lab diff openai stream' }] }, factory: createOpenAiClaudeChatModule },
  { name: 'validation: empty messages', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: { model: 'x', messages: [] }, factory: createClaudeMessagesModule },
];

async function relayConfig(fields: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${LEGACY}/admin/claude-relay-config`, { method: 'PUT', headers: { authorization: `Bearer ${env['AUTH_ADMIN_TOKEN']}`, 'content-type': 'application/json' }, body: JSON.stringify(fields) });
  if (!res.ok) throw new Error(`admin PUT claude-relay-config: ${res.status} ${await res.text()}`);
}
const FEATURES_OFF = { userMessageQueueEnabled: false, userMessageQueueTimeoutMs: 5000, globalSessionBindingEnabled: false };
const queueOn = (extra: Record<string, unknown> = {}) => () => relayConfig({ ...FEATURES_OFF, userMessageQueueEnabled: true, ...extra });
const bindingOn = () => relayConfig({ ...FEATURES_OFF, globalSessionBindingEnabled: true });
const HOLDER_LOCK = `user_msg_queue_lock:${env['LAB_CONSOLE_ACCOUNT_ID']}`;
const holdLock = async () => {
  await queueOn({ userMessageQueueTimeoutMs: 1000 })();
  await lab.set(HOLDER_LOCK, 'lab-diff-holder', 'PX', 8000);
};
const releaseHeld = async () => {
  await lab.eval("if redis.call('GET', KEYS[1]) == 'lab-diff-holder' then return redis.call('DEL', KEYS[1]) end return 0", 1, HOLDER_LOCK);
};
const sessionUuid = () => systemIds().uuid();
const sessionBody = (uuid: string, turns: 1 | 3, extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-4-5-20250929',
  max_tokens: 64,
  metadata: { user_id: `user_${'ab'.repeat(32)}_account__session_${uuid}` },
  tools: [{ name: 'lab_tool', description: 'x', input_schema: { type: 'object', properties: {} } }],
  messages: turns === 1 ? [{ role: 'user', content: 'lab diff binding' }] : [{ role: 'user', content: 'lab diff binding' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'again' }],
  ...extra,
});
const bindingKey = (uuid: string) => `original_session_binding:${uuid}`;
function withBinding(uuid: string, accountId: string): Pick<Scenario, 'setup' | 'teardown'> {
  return {
    setup: async () => {
      await bindingOn();
      const at = '2026-11-20T00:00:00.000Z';
      await lab.set(bindingKey(uuid), JSON.stringify({ accountId, accountType: 'claude-official', createdAt: at, lastUsedAt: at }), 'EX', 3600);
    },
    teardown: async () => void (await lab.del(bindingKey(uuid))),
  };
}
const newSession = sessionUuid();
const boundSession = sessionUuid();
const deadBinding = sessionUuid();
const userTurn = (text: string, stream = false) => ({ model: 'claude-sonnet-4-5-20250929', max_tokens: 64, stream, messages: [{ role: 'user', content: text }] });
// Console daily quota: the lab Console account gets a tiny dailyQuota (today's cost is above it) for one
// pool request, then its hash and its PostgreSQL row (the legacy's updateAccount dual-writes) are put back.
const CONSOLE_HASH = `claude_console_account:${env['LAB_CONSOLE_ACCOUNT_ID']}`;
let savedConsole: Record<string, string> = {};
let savedConsoleRow: Array<{ data: unknown; updated_at: Date }> = [];
const labPg = postgres(env['LAB_PG_URL']!, { max: 1, onnotice: () => {} });
const quotaScenario: Pick<Scenario, 'setup' | 'teardown'> = {
  setup: async () => {
    await relayConfig(FEATURES_OFF);
    savedConsole = await lab.hgetall(CONSOLE_HASH);
    savedConsoleRow = await labPg<Array<{ data: unknown; updated_at: Date }>>`select data, updated_at from accounts where type = 'claude-console' and id = ${env['LAB_CONSOLE_ACCOUNT_ID']!}`;
    await lab.hset(CONSOLE_HASH, 'dailyQuota', '0.0001');
  },
  teardown: async () => {
    const [isActive, schedulable, quotaStoppedAt] = await lab.hmget(CONSOLE_HASH, 'isActive', 'schedulable', 'quotaStoppedAt');
    const [mineStop] = await mine.hmget(CONSOLE_HASH, 'quotaStoppedAt');
    console.log(`  quota stop — legacy: isActive=${isActive} schedulable=${schedulable} quotaStoppedAt=${quotaStoppedAt || '-'}; migrated quotaStoppedAt=${mineStop || '-'}`);
    await lab.multi().del(CONSOLE_HASH).hset(CONSOLE_HASH, savedConsole).exec();
    for (const row of savedConsoleRow) await labPg`update accounts set data = ${labPg.json(row.data as never)}, updated_at = ${row.updated_at} where type = 'claude-console' and id = ${env['LAB_CONSOLE_ACCOUNT_ID']!}`;
  },
};
const featureScenarios: Scenario[] = [
  { name: 'queue on: console user turn (lock taken and released)', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: userTurn('queue console'), factory: createClaudeMessagesModule, setup: queueOn() },
  { name: 'queue on: oauth stream user turn', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: userTurn('queue oauth', true), factory: createClaudeMessagesModule, setup: queueOn() },
  { name: 'queue on: lock held elsewhere → 503 queue_timeout (JSON)', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: userTurn('queue held'), factory: createClaudeMessagesModule, setup: holdLock, teardown: releaseHeld },
  { name: 'queue on: lock held elsewhere → 503 queue_timeout (SSE)', path: '/api/v1/messages', key: env['LAB_CONSOLE_KEY']!, body: userTurn('queue held', true), factory: createClaudeMessagesModule, setup: holdLock, teardown: releaseHeld },
  { name: 'binding on: new session on the OAuth account is bound', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: sessionBody(newSession, 1), factory: createClaudeMessagesModule, setup: bindingOn, teardown: async () => void (await lab.del(bindingKey(newSession))) },
  { name: 'binding on: bound session goes on, binding touched', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: sessionBody(boundSession, 3), factory: createClaudeMessagesModule, ...withBinding(boundSession, env['LAB_OAUTH_ACCOUNT_ID']!) },
  { name: 'binding on: bound to a missing account → 403', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: sessionBody(deadBinding, 3, { stream: true }), factory: createClaudeMessagesModule, ...withBinding(deadBinding, '00000000-0000-4000-8000-00000000dead') },
  { name: 'binding on: new session that looks old → 400', path: '/api/v1/messages', key: env['LAB_OAUTH_KEY']!, body: sessionBody(sessionUuid(), 3), factory: createClaudeMessagesModule, setup: bindingOn },
  { name: 'binding on: count_tokens, new session that looks old → 400', path: '/api/v1/messages/count_tokens', key: env['LAB_OAUTH_KEY']!, body: sessionBody(sessionUuid(), 3), factory: createClaudeCountTokensModule, setup: bindingOn },
  { name: 'quota: pool request while the Console account is over its daily quota (stopped by the pool check)', path: '/api/v1/messages', key: env['LAB_POOL_KEY']!, body: userTurn('quota pool'), factory: createClaudeMessagesModule, ...quotaScenario },
  { name: 'binding on: count_tokens, bound session (touched, not created)', path: '/api/v1/messages/count_tokens', key: env['LAB_OAUTH_KEY']!, body: sessionBody(boundSession, 3), factory: createClaudeCountTokensModule, ...withBinding(boundSession, env['LAB_OAUTH_ACCOUNT_ID']!) },
];

const features = process.argv[3] === 'features';
const scenarios = features ? featureScenarios : baseScenarios;
const savedRelayConfig = features ? await lab.get('claude_relay_config') : null;
const rounds = Number(process.argv[2] ?? 1);
let compared = 0;
let identical = 0;
const findings: string[] = [];
// Outside `features`, each module lives for the whole run as it does in the gateway: from the second round on
// a key's request takes the read-ahead path (key, costs and bound account in one EVALSHA_RO started with the
// headers). `features` switches claude_relay_config per scenario, so it takes a fresh module (no cached config).
const live = new Map<MigratedModuleFactory, Promise<{ url: string; close(): Promise<void> }>>();
const moduleFor = (factory: MigratedModuleFactory) => {
  if (features) return serve(factory);
  let m = live.get(factory);
  if (!m) live.set(factory, (m = serve(factory)));
  return m;
};
for (let round = 0; round < rounds; round++) {
  for (const sc of scenarios) {
    await sc.setup?.();
    await copyLabState();
    const body = JSON.stringify(sc.body);
    const headers = { 'x-api-key': sc.key, 'content-type': 'application/json', ...(sc.extra ?? {}) };
    let seq = await mockSeq();
    const legacy = await call(LEGACY, sc.path, headers, body);
    await new Promise((r) => setTimeout(r, 400));
    const legacyUp = await mockSince(seq);
    const labAfter = normSnap(await dumpRedisSnapshot(lab));
    const srv = await moduleFor(sc.factory);
    seq = await mockSeq();
    const migrated = await call(srv.url, sc.path, headers, body);
    await new Promise((r) => setTimeout(r, 400));
    const migratedUp = await mockSince(seq);
    if (features) await srv.close();
    const mineAfter = normSnap(await dumpRedisSnapshot(mine));
    await sc.teardown?.();
    const diffs: string[] = [];
    if (legacy.status !== migrated.status) diffs.push(`status ${legacy.status} vs ${migrated.status}`);
    if (JSON.stringify(normHeaders(legacy.headers)) !== JSON.stringify(normHeaders(migrated.headers))) diffs.push(`headers\n    legacy:   ${normHeaders(legacy.headers).join(' | ')}\n    migrated: ${normHeaders(migrated.headers).join(' | ')}`);
    if (normBody(legacy.body) !== normBody(migrated.body)) diffs.push(`body\n    legacy:   ${legacy.body.slice(0, 400)}\n    migrated: ${migrated.body.slice(0, 400)}`);
    // the upstream `Connection` value is the deliberate keep-alive deviation (docs/claude-relay.md): name kept, value masked
    const up = (u: typeof legacyUp) =>
      u.map((r) => ({ m: r.method, u: r.url, h: r.rawHeaders.map((v, i, all) => (i % 2 === 0 ? v : /^Bearer sk-ant-oat/.test(v) ? '<oat>' : /^connection$/i.test(all[i - 1]!) ? '<connection>' : v)), b: r.bodyRaw }));
    if (JSON.stringify(up(legacyUp)) !== JSON.stringify(up(migratedUp))) diffs.push(`upstream\n    legacy:   ${JSON.stringify(up(legacyUp)).slice(0, 900)}\n    migrated: ${JSON.stringify(up(migratedUp)).slice(0, 900)}`);
    const rd = diffRedisSnapshots(labAfter, mineAfter, { ttlTolerance: 5, ignoreHashFields: [{ key: /./, fields: TIME_FIELDS }] });
    if (rd.length) diffs.push(`redis ${rd.map((d) => `${d.kind} ${d.key}${d.fields ? ` [${d.fields.join(',')}]` : ''}`).join('; ')}`);
    compared++;
    if (diffs.length === 0) identical++;
    else findings.push(`${sc.name}:\n  ${diffs.join('\n  ')}`);
    console.log(`${diffs.length ? 'DIFFERS  ' : 'identical'} ${sc.name} (${legacy.status}, upstream calls ${legacyUp.length}/${migratedUp.length})`);
  }
}
for (const m of live.values()) await (await m).close();
if (features) {
  await relayConfig(FEATURES_OFF);
  if (savedRelayConfig === null) await lab.del('claude_relay_config');
  else await lab.set('claude_relay_config', savedRelayConfig);
}
console.log(`\n${compared} compared, ${identical} identical`);
for (const f of findings) console.log(`\n${f}`);
lab.disconnect();
mine.disconnect();
await labPg.end();
await priv.stop();
