import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { MigratedDeps } from '../runtime/deps.js';
import type { Clock } from '../runtime/clock.js';
import type { IdSource } from '../runtime/ids.js';
import type { ApiKeyRow, PgStore } from '../pg/store.js';
import { PricingTable } from '../pricing/pricing-table.js';
import { costCalculatorCost, pricingServiceCost, zeroPricingCost, type PricingServiceCost, type UsageTokens } from '../pricing/cost.js';
import { encodeValue, keys, ttl, weekString } from '../storage/keys.js';
import { WriteBatch, type BatchOutcome, type WriteOps } from '../storage/write-batch.js';
import { queueAccountUsage } from './account-usage.js';
import { countsAsOpus, queueDailyCost, queueOpusCost } from './cost-keys.js';
import { consumeFuel } from './fuel.js';
import { basicRecord, basicRecordElement, billingEvent, detailsRecord, queueBillingEvent, queueUsageRecord, queueUsageRecordElement } from './records.js';
import { queueTokenUsage } from './token-usage.js';
import { UsageMemo } from './usage-memo.js';

/**
 * Usage + cost recording for one relayed request, reproducing the legacy's Redis writes
 * byte for byte (usage-accounting.md; src/services/apiKeyService.js recordUsage /
 * recordUsageWithDetails; src/utils/rateLimitHelper.js updateRateLimitCounters).
 *
 * Round trips: (1) HGETALL apikey:{id} + api_key:{id}; (2) one EVALSHA applying every write
 * (token counters, cost keys, Opus cost, key-hash rewrite, account counters, usage record,
 * billing event, rate-limit window counters) — see storage/write-batch.ts — shared by the requests of the same
 * API key recorded in the same event-loop turn and written in its check phase (see turnWrite()). A key with an
 * active fuel pack adds one EVALSHA between them (the record needs the amount consumed).
 * The write set is atomic: a connection lost before the call writes nothing, so a retry
 * cannot double count (the legacy writes in ~9 separate steps and can be interrupted half way).
 *
 * Like the legacy, failures never fail the HTTP request: `record` logs and returns null.
 */

export type RecorderKind =
  /** apiKeyService.recordUsage: CostCalculator cost, no Opus, no billing event, ephemeral 0. (Non-stream Claude, OpenAI, Gemini, Azure, Bedrock stream.) */
  | 'basic'
  /** apiKeyService.recordUsageWithDetails: pricingService cost, Opus weekly, billing event. (Claude streams, OpenAI→Claude compat, Droid.) */
  | 'details';

export interface RecordUsageInput {
  keyId: string;
  /** Account that served the request (null/'' → no account_usage writes). */
  accountId?: string | null | undefined;
  /** 'claude' | 'claude-console' | 'ccr' | 'droid' | null (details only; OpenAI-compat passes null). */
  accountType?: string | null | undefined;
  /** Raw model as the route computed it (vendor prefix already removed by the route). */
  model: string;
  /**
   * Usage object. For 'details' pass exactly what the legacy route passes: Claude streams build
   * `{input_tokens, output_tokens, cache_creation_input_tokens (=5m+1h when a cache_creation object
   * came), cache_read_input_tokens}` plus `cache_creation` only if 5m>0 or 1h>0; the OpenAI
   * compat route passes the upstream usage whole. For 'basic' the four counts are used (`?? 0`).
   */
  usage: UsageTokens;
  recorder: RecorderKind;
  /** Publish to billing:events (default: true for 'details', never for 'basic'). BILLING_EVENTS_ENABLED=false turns it off. */
  billingEvent?: boolean;
  /** The auth step set req.rateLimitInfo (key has an active rate-limit window): INCRBY/INCRBYFLOAT rate_limit:tokens/cost. */
  rateLimitWindow?: boolean;
  /**
   * The key hash this request already read (auth). Given: no read round trip — the fuel check,
   * billing-event name/userId and the account-usage gate use it, and the key-hash rewrite
   * (`lastUsedAt`, hash_map, TTL) is done inside the write script on the hash as it is then
   * (never a stale copy written back). Recording is then ONE EVALSHA, issued synchronously by
   * `record()` (without a fuel pack).
   */
  keySnapshot?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * An account hash whose `lastUsedAt` the relay sets (when the hash exists) right before recording
   * usage, done first in the same script: one write less per request, same final state.
   */
  touchAccountKey?: string | undefined;
}

export interface RecordUsageResult {
  totalTokens: number;
  /** Number(usageCost.toFixed(6)) */
  totalCost: number;
  fuelCost: number;
  billableCost: number;
}

export interface UsageRecorderDeps {
  redis: Redis;
  clock: Clock;
  ids: IdSource;
  log: Pick<Logger, 'warn' | 'error' | 'debug'>;
  pricing: PricingTable;
  pgStore?: PgStore | null;
  /** config.system.metricsWindow; undefined = the legacy's example config (no TTL on minute keys). */
  metricsWindowMinutes?: number;
  /** config BILLING_EVENTS_ENABLED (legacy: env !== 'false'; default true). */
  billingEventsEnabled?: boolean;
}

/** Counters for the benchmark: what the last call sent. */
export interface RecorderStats {
  roundTrips: number;
  commands: number;
}

/** The result of a record, once its PostgreSQL mirror (if any) has written this state or a newer one. */
async function afterMirror(w: { result: RecordUsageResult; mirror: (() => Promise<unknown>) | null }): Promise<RecordUsageResult> {
  if (w.mirror) await w.mirror();
  return w.result;
}

/** Starts the record's PostgreSQL mirror without waiting for it (its outcome is logged by the store). */
function startMirror(w: { mirror: (() => Promise<unknown>) | null }): void {
  if (w.mirror) void w.mirror();
}

/**
 * The mirror's upsert of a row the record has in hand, or of the row as Redis holds it when the upsert is
 * sent. Made outside writeUsage: a closure made inside it would keep writeUsage's whole context (and
 * with it the request's data) reachable for as long as the mirror waits.
 */
function mirrorRow(pg: PgStore, keyId: string, row: ApiKeyRow): () => Promise<unknown> {
  return () => pg.upsertApiKey(keyId, row.hashedKey, row.data);
}

function mirrorLater(pg: PgStore, keyId: string, redis: Redis): () => Promise<unknown> {
  return () => pg.upsertApiKeyFrom(keyId, () => keyRowNow(redis, keyId));
}

/** The key's api_keys row as Redis holds it now (`apikey:{id}`, which the touch wrote), or null when it is gone. */
async function keyRowNow(redis: Redis, keyId: string): Promise<ApiKeyRow | null> {
  return apiKeyRow(keyId, await redis.hgetall(keys.apiKey(keyId)));
}

/** The api_keys row of a key hash (`id` first, as the legacy mirrors setApiKey), or null without a hashed key. */
function apiKeyRow(keyId: string, hash: Readonly<Record<string, string | undefined>>): ApiKeyRow | null {
  const hashed = hash['apiKey'];
  return hashed ? { hashedKey: hashed, data: { id: keyId, ...hash } } : null;
}

/** The legacy's setApiKey of a key hash it just read: the hash_map entry, the whole hash, its TTL. */
function queueKeyRewrite(m: WriteOps, keyId: string, record: Readonly<Record<string, string>>): void {
  if (record['apiKey']) m.hset(keys.apiKeyHashMap(), record['apiKey'], keyId);
  m.hset(keys.apiKey(keyId), ...Object.entries(record).flatMap(([k, v]) => [k, encodeValue(v)]));
  m.expire(keys.apiKey(keyId), ttl.apiKey);
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The write of one API key's requests in the current loop turn: one batch, one outcome for all of them. */
interface TurnWrite {
  batch: WriteBatch;
  outcome: Promise<BatchOutcome>;
  settle: (outcome: Promise<BatchOutcome>) => void;
}

export class UsageRecorder {
  lastStats: RecorderStats = { roundTrips: 0, commands: 0 };
  /** Key names, packed texts, counter runs and time buckets, computed once for all this recorder's requests. */
  private readonly memo = new UsageMemo();
  /** This loop turn's writes by API key, applied in its check phase (null: nothing pending). */
  private turn: Map<string, TurnWrite> | null = null;
  /** What waits for this turn's writes to be on the Redis connection (non-stream responses). */
  private afterTurn: Array<() => void> = [];

  constructor(private readonly deps: UsageRecorderDeps) {}

  /**
   * Run `fn` once the usage writes queued so far in this loop turn are on the Redis connection (at once when none
   * are pending). The legacy answers a non-stream request only after its usage is recorded; a response written
   * here follows its request's EVALSHA on the wire, as before the writes of a turn were joined.
   */
  afterWrite(fn: () => void): void {
    if (this.turn) this.afterTurn.push(fn);
    else fn();
  }

  /**
   * The batch of `keyId` for this loop turn. Requests whose usage is recorded in the same turn (under load, ~5 per
   * turn) share one EVALSHA per API key: the script joins their counter runs per hash (from three requests on, one
   * HMGET and one HSET per hash instead of one pair per request), the key touch and account touch are made once at the latest time, the
   * rest (floats, records, events) stays in request order; the final state is the one the requests leave one after
   * another (write-batch.test.ts). The turn's writes go out in its check phase.
   */
  private turnWrite(keyId: string): TurnWrite {
    let turn = this.turn;
    if (!turn) {
      turn = this.turn = new Map();
      setImmediate(() => this.flushTurn());
    }
    let w = turn.get(keyId);
    if (!w) {
      let settle!: (outcome: Promise<BatchOutcome>) => void;
      const outcome = new Promise<BatchOutcome>((resolve) => (settle = resolve));
      w = { batch: new WriteBatch(this.memo.texts), outcome, settle };
      turn.set(keyId, w);
    }
    return w;
  }

  private flushTurn(): void {
    const turn = this.turn!;
    const after = this.afterTurn;
    this.turn = null;
    this.afterTurn = [];
    for (const [keyId, w] of turn) {
      const outcome = w.batch.applyDetailed(this.deps.redis);
      w.settle(outcome);
      outcome.then(
        ({ failed }) => {
          if (failed.length) this.deps.log.warn({ keyId, errors: failed }, 'some usage writes were rejected by Redis');
        },
        () => undefined,
      );
    }
    for (const fn of after) fn();
  }

  /** Shutdown: resolves when the PostgreSQL api_keys upserts made so far (coalesced per key) have finished. */
  async flush(): Promise<void> {
    await this.deps.pgStore?.flush();
  }

  /** Never throws: logs and returns null on any failure (legacy behaviour). */
  record(input: RecordUsageInput): Promise<RecordUsageResult | null> {
    // no frame keeps `input` (its key snapshot) across the mirror's wait: only the id is kept (see recordOrThrow)
    const keyId = input.keyId;
    return this.recordOrThrow(input).catch((err: unknown) => {
      this.deps.log.error({ err: (err as Error).message, keyId }, 'Failed to record usage');
      return null;
    });
  }

  /**
   * record() for callers that do not wait for it (the relays): the same writes and the same PostgreSQL mirror, but
   * nothing chained on the mirror per request. A busy key's upsert waits up to its spacing (50 ms), and submitters
   * share that write's promise; a per-request continuation on it would outlive V8's young generation and be
   * promoted with what it holds (with PostgreSQL on: ~1.5 KB promoted per request instead of ~0.75 KB).
   */
  recordDetached(input: RecordUsageInput): void {
    const keyId = input.keyId;
    this.writeUsage(input).then(startMirror, (err: unknown) => {
      this.deps.log.error({ err: (err as Error).message, keyId }, 'Failed to record usage');
    });
  }

  /**
   * Same as record() but rejects on failure (tests, callers that want the error). Resolves once the
   * PostgreSQL api_keys mirror has written this state or a newer one. That wait can last the mirror's
   * spacing (50 ms) for a busy key, so nothing of the request is held during it (no async frame with
   * `input` as a parameter, not the batch or the replies): only the mirror's closure. What a request leaves
   * reachable for that long outlives V8's young generation and is promoted (more full GCs: the p99 tail).
   */
  recordOrThrow(input: RecordUsageInput): Promise<RecordUsageResult> {
    return this.writeUsage(input).then(afterMirror);
  }

  /** Every Redis write of one record; `mirror` starts the PostgreSQL api_keys upsert that follows it. */
  private async writeUsage(input: RecordUsageInput): Promise<{ result: RecordUsageResult; mirror: (() => Promise<unknown>) | null }> {
    const { redis, clock, pricing } = this.deps;
    const stats: RecorderStats = { roundTrips: 0, commands: 0 };
    this.lastStats = stats;
    const { keyId, model } = input;
    const u = input.usage ?? {};
    const details = input.recorder === 'details';

    const inputTokens = num(u.input_tokens);
    const outputTokens = num(u.output_tokens);
    const cacheCreateTokens = num(u.cache_creation_input_tokens);
    const cacheReadTokens = num(u.cache_read_input_tokens);
    const totalTokens = inputTokens + outputTokens + cacheCreateTokens + cacheReadTokens;

    // Step 0: cost (no I/O)
    let pCost: PricingServiceCost | null = null;
    let basicCosts = null as ReturnType<typeof costCalculatorCost>['costs'] | null;
    let usageCost: number;
    let isLongContext: boolean;
    let e5 = 0;
    let e1 = 0;
    if (details) {
      pCost = this.detailsCost(u, model);
      usageCost = typeof pCost.totalCost === 'number' ? pCost.totalCost : 0;
      isLongContext = pCost.isLongContextRequest || false;
      if (u.cache_creation && typeof u.cache_creation === 'object') {
        e5 = num(u.cache_creation.ephemeral_5m_input_tokens);
        e1 = num(u.cache_creation.ephemeral_1h_input_tokens);
      }
    } else {
      basicCosts = costCalculatorCost(
        pricing,
        { input_tokens: inputTokens, output_tokens: outputTokens, cache_creation_input_tokens: cacheCreateTokens, cache_read_input_tokens: cacheReadTokens },
        model,
      ).costs;
      usageCost = basicCosts.total || 0;
      isLongContext = Boolean(model && model.includes('[1m]')) && inputTokens + cacheCreateTokens + cacheReadTokens > 200000;
    }

    // Round trip 1: the key hash (getApiKey: apikey:{id}, then api_key:{id}, then PostgreSQL) — skipped with a snapshot
    // A key with a fuel pack keeps the read (QUIRKS D7: the rewrite restores the pre-consumption fuel fields).
    const snapshot = input.keySnapshot && !(Number.parseFloat(input.keySnapshot['fuelBalance'] || '0') > 0) ? input.keySnapshot : undefined;
    // With a snapshot it is only read (fuel check, billing-event name/userId): no copy
    let keyData: Readonly<Record<string, string | undefined>> | null = null;
    if (snapshot) {
      keyData = snapshot;
    } else {
      const read = await redis.pipeline().hgetall(keys.apiKey(keyId)).hgetall(keys.apiKeyLegacy(keyId)).exec();
      stats.roundTrips++;
      stats.commands += 2;
      for (const [err, value] of read ?? []) {
        if (err) throw err;
        if (!keyData && value && Object.keys(value as object).length > 0) keyData = value as Record<string, string>;
      }
      if (!keyData) keyData = await this.keyFromPg(keyId);
    }

    const nowMs = clock.now();
    const memo = this.memo;
    const buckets = memo.buckets.at(nowMs, clock.timezoneOffsetHours);

    // Optional round trip: fuel pack consumption
    let fuelUsed = 0;
    if (keyData) {
      const hasFuel = Number.parseFloat(keyData.fuelBalance || '0') > 0 && Number.parseInt(keyData.fuelNextExpiresAtMs || '0', 10) > nowMs;
      if (hasFuel && usageCost > 0) {
        try {
          fuelUsed = (await consumeFuel(redis, keyId, usageCost, nowMs, buckets.date)).fuelUsed || 0;
        } catch (err) {
          this.deps.log.warn({ err: (err as Error).message, keyId }, 'Failed to consume fuel pack');
          fuelUsed = 0;
        }
        stats.roundTrips++;
        stats.commands++;
      }
    }

    // Round trip 2: every write, atomically (one EVALSHA applying the batch)
    const iso = new Date(nowMs).toISOString();
    const turn = this.turnWrite(keyId);
    const m = turn.batch;
    // the batch may already hold this turn's other requests: count what this one adds
    const queuedBefore = m.length;
    if (input.touchAccountKey) m.hsetIfExists(input.touchAccountKey, 'lastUsedAt', iso);
    queueTokenUsage(m, {
      keyId,
      tokens: totalTokens,
      inputTokens,
      outputTokens,
      cacheCreateTokens,
      cacheReadTokens,
      model,
      ephemeral5mTokens: e5,
      ephemeral1hTokens: e1,
      isLongContextRequest: isLongContext,
      buckets,
      nowMs,
      metricsWindowMinutes: this.deps.metricsWindowMinutes,
    }, memo);
    const keyCost = details ? pCost!.totalCost : basicCosts!.total;
    if (keyCost > 0) {
      queueDailyCost(m, keyId, keyCost, buckets, memo);
      if (details && countsAsOpus(model, input.accountType)) queueOpusCost(m, keyId, keyCost, weekString(nowMs, clock.timezoneOffsetHours));
    }
    let pgUpsert: (() => Promise<unknown>) | null = null;
    const pg = this.deps.pgStore;
    if (keyData && snapshot) {
      // the touched hash comes back only when its upsert would be sent at once; a busy key's row is read when sent
      m.touchApiKey(memo.names.apiKey(keyId), keyId, iso, ttl.apiKey, !!pg?.enabled && pg.apiKeyUpsertIdle(keyId));
    } else if (keyData) {
      const read = keyData as Record<string, string>;
      read.lastUsedAt = iso;
      queueKeyRewrite(m, keyId, read);
      const row = apiKeyRow(keyId, read);
      if (pg?.enabled && row) pgUpsert = mirrorRow(pg, keyId, row);
    }
    if (keyData) {
      if (input.accountId) {
        queueAccountUsage(m, pricing, {
          accountId: input.accountId,
          inputTokens,
          outputTokens,
          cacheCreateTokens,
          cacheReadTokens,
          model,
          isLongContextRequest: isLongContext,
          buckets,
        }, memo);
      }
    }
    const recordArgs = {
      model,
      accountId: input.accountId || null,
      accountType: input.accountType || null,
      inputTokens,
      outputTokens,
      cacheCreateTokens,
      cacheReadTokens,
      ephemeral5mTokens: e5,
      ephemeral1hTokens: e1,
      totalTokens,
      cost: pCost!,
    };
    if (details) {
      queueUsageRecord(m, keyId, detailsRecord({ timestamp: iso, usageCost, fuelUsed, ...recordArgs }), memo);
    } else {
      const basicArgs = { timestamp: iso, usageCost, fuelUsed, ...recordArgs, costs: basicCosts! };
      const element = basicRecordElement(basicArgs);
      if (element !== null) queueUsageRecordElement(m, keyId, element, memo);
      else queueUsageRecord(m, keyId, basicRecord(basicArgs), memo);
    }
    const wantEvent = details && (input.billingEvent ?? true) && (this.deps.billingEventsEnabled ?? true);
    if (wantEvent) {
      const eventId = `${nowMs}-${this.deps.ids.random().toString(36).substr(2, 9)}`;
      queueBillingEvent(
        m,
        billingEvent({ eventId, timestamp: iso, keyId, keyName: keyData?.name, userId: keyData?.userId, record: recordArgs, requestTimestamp: iso }),
      );
    }
    const billableCost = Number(Math.max(0, usageCost - fuelUsed).toFixed(6));
    if (input.rateLimitWindow) {
      // updateRateLimitCounters with costOverride = billableCost (already rounded)
      if (totalTokens > 0) m.incrby(keys.rateLimitTokens(keyId), Math.round(totalTokens));
      const windowCost = Math.max(0, billableCost);
      if (windowCost > 0) m.incrbyfloat(keys.rateLimitCost(keyId), windowCost);
    }
    stats.commands += m.length - queuedBefore;
    const { keyTouch } = await turn.outcome;
    stats.roundTrips++;
    if (keyTouch.state === 'touched' && pg?.enabled) {
      // no hash back: the key's mirror was busy, its row is read when the upsert is sent
      const row = keyTouch.hash ? apiKeyRow(keyId, keyTouch.hash) : undefined;
      if (row === undefined) pgUpsert = mirrorLater(pg, keyId, this.deps.redis);
      else if (row) pgUpsert = mirrorRow(pg, keyId, row);
    } else if (keyTouch.state === 'missing') {
      // neither Redis hash exists any more: the legacy's getApiKey would fall back to PostgreSQL and write that back
      const fromPg = await this.keyFromPg(keyId);
      if (fromPg) {
        fromPg.lastUsedAt = iso;
        const back = new WriteBatch(memo.texts);
        queueKeyRewrite(back, keyId, fromPg);
        await back.apply(redis);
        stats.roundTrips++;
        const row = apiKeyRow(keyId, fromPg);
        if (pg?.enabled && row) pgUpsert = mirrorRow(pg, keyId, row);
      }
    }
    // `mirror` is coalesced per key in the store: it resolves once a statement carrying this state or a newer one has finished
    return {
      result: {
        totalTokens,
        totalCost: Number((usageCost || 0).toFixed(6)),
        fuelCost: Number(fuelUsed.toFixed(6)),
        billableCost,
      },
      mirror: pgUpsert,
    };
  }

  /** recordUsageWithDetails step 0: pricingService, falling back to CostCalculator (> 0) when it throws. */
  private detailsCost(u: UsageTokens, model: string): PricingServiceCost {
    try {
      return pricingServiceCost(this.deps.pricing, u, model);
    } catch {
      const zero = zeroPricingCost();
      try {
        const total = costCalculatorCost(this.deps.pricing, u, model).costs.total;
        return total > 0 ? { ...zero, totalCost: total } : zero;
      } catch {
        return zero;
      }
    }
  }

  private async keyFromPg(keyId: string): Promise<Record<string, string> | null> {
    const pg = this.deps.pgStore;
    if (!pg?.enabled) return null;
    const row = await pg.getApiKeyById(keyId);
    if (!row) return null;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(row)) out[k] = encodeValue(v);
    return out;
  }
}

/**
 * Build the recorder from the gateway's deps (pricing table from PRICING_FILE, re-read when its
 * mtime changes — call `watch()` on the returned table to poll, or let each call check).
 */
export function createUsageRecorder(
  deps: Pick<MigratedDeps, 'redis' | 'clock' | 'ids' | 'log' | 'config'>,
  opts: { pgStore?: PgStore | null; pricing?: PricingTable; metricsWindowMinutes?: number; billingEventsEnabled?: boolean } = {},
): UsageRecorder {
  const pricing = opts.pricing ?? new PricingTable(deps.config.PRICING_FILE, deps.log).loadSync();
  const d: UsageRecorderDeps = {
    redis: deps.redis,
    clock: deps.clock,
    ids: deps.ids,
    log: deps.log,
    pricing,
    pgStore: opts.pgStore ?? null,
    billingEventsEnabled: opts.billingEventsEnabled ?? deps.config.BILLING_EVENTS_ENABLED ?? true,
  };
  if (opts.metricsWindowMinutes !== undefined) d.metricsWindowMinutes = opts.metricsWindowMinutes;
  return new UsageRecorder(d);
}
