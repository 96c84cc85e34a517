import type { WriteBatch, WriteOps } from '../storage/write-batch.js';
import type { CostCalculatorCosts, PricingServiceCost } from '../pricing/cost.js';
import { keys, ttl } from '../storage/keys.js';
import type { UsageMemo } from './usage-memo.js';

/**
 * The JSON documents the legacy writes per request: the `usage:records:{keyId}` element in
 * both layouts (src/services/apiKeyService.js recordUsage / recordUsageWithDetails) and the
 * `billing:events` payload (src/services/billingEventPublisher.js). Member order is part of
 * the contract (JSON.stringify keeps insertion order).
 */

export const MAX_USAGE_RECORDS = 200;

const round6 = (x: number): number => Number(x.toFixed(6));

export interface BasicRecordArgs {
  timestamp: string;
  model: string;
  accountId: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  totalTokens: number;
  usageCost: number;
  fuelUsed: number;
  costs: CostCalculatorCosts;
}

/** recordUsage layout (non-stream /api/v1/messages etc.). */
export function basicRecord(a: BasicRecordArgs): string {
  return JSON.stringify({
    timestamp: a.timestamp,
    model: a.model,
    accountId: a.accountId || null,
    inputTokens: a.inputTokens,
    outputTokens: a.outputTokens,
    cacheCreateTokens: a.cacheCreateTokens,
    cacheReadTokens: a.cacheReadTokens,
    totalTokens: a.totalTokens,
    cost: round6(a.usageCost),
    fuelCost: round6(a.fuelUsed),
    billableCost: round6(Math.max(0, a.usageCost - a.fuelUsed)),
    costBreakdown: a.costs,
  });
}

const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const plain = (s: unknown): s is string => typeof s === 'string' && PLAIN.test(s);
const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

/**
 * `jsonString(basicRecord(a))` — the record as the string element the write batch sends (the JSON
 * text of the JSON text) — written in one go, or null when a value needs the general path (a
 * string outside printable ASCII or with `"`/`\`, a number that is not finite, a costs object
 * other than CostCalculator's five numbers in their order). Same bytes: records.test.ts.
 */
export function basicRecordElement(a: BasicRecordArgs): string | null {
  const c = a.costs;
  const accountId = a.accountId || null;
  const cost = round6(a.usageCost);
  const fuelCost = round6(a.fuelUsed);
  const billableCost = round6(Math.max(0, a.usageCost - a.fuelUsed));
  if (
    !plain(a.timestamp) ||
    !plain(a.model) ||
    !(accountId === null || plain(accountId)) ||
    !finite(a.inputTokens) ||
    !finite(a.outputTokens) ||
    !finite(a.cacheCreateTokens) ||
    !finite(a.cacheReadTokens) ||
    !finite(a.totalTokens) ||
    !finite(cost) ||
    !finite(fuelCost) ||
    !finite(billableCost) ||
    !costCalculatorShape(c)
  ) {
    return null;
  }
  const acc = accountId === null ? 'null' : `\\"${accountId}\\"`;
  return (
    `"{\\"timestamp\\":\\"${a.timestamp}\\",\\"model\\":\\"${a.model}\\",\\"accountId\\":${acc},` +
    `\\"inputTokens\\":${a.inputTokens},\\"outputTokens\\":${a.outputTokens},\\"cacheCreateTokens\\":${a.cacheCreateTokens},` +
    `\\"cacheReadTokens\\":${a.cacheReadTokens},\\"totalTokens\\":${a.totalTokens},\\"cost\\":${cost},\\"fuelCost\\":${fuelCost},` +
    `\\"billableCost\\":${billableCost},\\"costBreakdown\\":{\\"input\\":${c.input},\\"output\\":${c.output},` +
    `\\"cacheWrite\\":${c.cacheWrite},\\"cacheRead\\":${c.cacheRead},\\"total\\":${c.total}}}"`
  );
}

const COST_FIELDS = ['input', 'output', 'cacheWrite', 'cacheRead', 'total'];
/** Exactly CostCalculator's costs: its five finite numbers as own properties in that order (JSON.stringify writes every own one). */
function costCalculatorShape(c: CostCalculatorCosts): boolean {
  if (!(finite(c.input) && finite(c.output) && finite(c.cacheWrite) && finite(c.cacheRead) && finite(c.total))) return false;
  let i = 0;
  for (const k in c) {
    if (k !== COST_FIELDS[i]) return false;
    i++;
  }
  return i === 5 && Object.getPrototypeOf(c) === Object.prototype;
}

export interface DetailsRecordArgs {
  timestamp: string;
  model: string;
  accountId: string | null;
  accountType: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheCreateTokens: number;
  cacheReadTokens: number;
  ephemeral5mTokens: number;
  ephemeral1hTokens: number;
  totalTokens: number;
  usageCost: number;
  fuelUsed: number;
  cost: Pick<PricingServiceCost, 'totalCost' | 'inputCost' | 'outputCost' | 'cacheCreateCost' | 'cacheReadCost' | 'ephemeral5mCost' | 'ephemeral1hCost' | 'isLongContextRequest'>;
}

export function costBreakdown(c: DetailsRecordArgs['cost']) {
  return {
    input: c.inputCost || 0,
    output: c.outputCost || 0,
    cacheCreate: c.cacheCreateCost || 0,
    cacheRead: c.cacheReadCost || 0,
    ephemeral5m: c.ephemeral5mCost || 0,
    ephemeral1h: c.ephemeral1hCost || 0,
  };
}

/** recordUsageWithDetails layout (stream paths, OpenAI-compatible, droid). */
export function detailsRecord(a: DetailsRecordArgs): string {
  return JSON.stringify({
    timestamp: a.timestamp,
    model: a.model,
    accountId: a.accountId || null,
    accountType: a.accountType || null,
    inputTokens: a.inputTokens,
    outputTokens: a.outputTokens,
    cacheCreateTokens: a.cacheCreateTokens,
    cacheReadTokens: a.cacheReadTokens,
    ephemeral5mTokens: a.ephemeral5mTokens,
    ephemeral1hTokens: a.ephemeral1hTokens,
    totalTokens: a.totalTokens,
    cost: round6(a.cost.totalCost || 0),
    fuelCost: round6(a.fuelUsed),
    billableCost: round6(Math.max(0, a.usageCost - a.fuelUsed)),
    costBreakdown: costBreakdown(a.cost),
    isLongContext: a.cost.isLongContextRequest || false,
  });
}

/** MULTI part of addUsageRecord: LPUSH, LTRIM 0 199, EXPIRE 90 d. */
export function queueUsageRecord(p: WriteOps, keyId: string, json: string, memo: UsageMemo): void {
  const list = memo.names.apiKey(keyId).records;
  p.lpush(list, json);
  p.ltrim(list, 0, MAX_USAGE_RECORDS - 1);
  p.expire(list, ttl.usageRecords);
}

/** queueUsageRecord with the record given as its batch element (basicRecordElement). */
export function queueUsageRecordElement(b: WriteBatch, keyId: string, element: string, memo: UsageMemo): void {
  const list = memo.names.apiKey(keyId).records;
  b.lpushElement(list, element);
  b.ltrim(list, 0, MAX_USAGE_RECORDS - 1);
  b.expire(list, ttl.usageRecords);
}

export interface BillingEventArgs {
  /** `{Date.now()}-{9 base-36 chars}` */
  eventId: string;
  timestamp: string;
  keyId: string;
  keyName: string | undefined;
  userId: string | undefined;
  record: Omit<DetailsRecordArgs, 'timestamp' | 'usageCost' | 'fuelUsed'>;
  requestTimestamp: string;
}

export function billingEvent(a: BillingEventArgs): string {
  const r = a.record;
  return JSON.stringify({
    eventId: a.eventId,
    eventType: 'usage.recorded',
    timestamp: a.timestamp,
    version: '1.0',
    apiKey: { id: a.keyId, name: a.keyName || null, userId: a.userId || null },
    usage: {
      model: r.model,
      inputTokens: r.inputTokens || 0,
      outputTokens: r.outputTokens || 0,
      cacheCreateTokens: r.cacheCreateTokens || 0,
      cacheReadTokens: r.cacheReadTokens || 0,
      ephemeral5mTokens: r.ephemeral5mTokens || 0,
      ephemeral1hTokens: r.ephemeral1hTokens || 0,
      totalTokens: r.totalTokens || 0,
    },
    cost: { total: r.cost.totalCost || 0, currency: 'USD', breakdown: costBreakdown(r.cost) },
    account: { id: r.accountId || null, type: r.accountType || null },
    context: { isLongContext: r.cost.isLongContextRequest || false, requestTimestamp: a.requestTimestamp || a.timestamp },
  });
}

/** XADD billing:events MAXLEN ~ 100000 * data <json>. */
export function queueBillingEvent(p: WriteOps, json: string): void {
  p.xadd(keys.billingEvents(), 'MAXLEN', '~', '100000', '*', 'data', json);
}
