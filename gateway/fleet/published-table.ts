import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import * as v from 'valibot';
import { validateTable } from '../routing/validate.js';
import { FLEET_KEYS, HISTORY_LENGTH } from './keys.js';

/**
 * The routing table shared by a fleet of gateways through Redis.
 * `publishTable` stores a validated table under the next revision and announces it, in one Lua script
 * (revision bump, document, history, PUBLISH happen together or not at all). Instances read the document
 * with `readPublished`, validate it again against their own module registry, and apply it.
 */

export interface PublishedTable {
  revision: number;
  /** The table as published (JSON text as stored). */
  tableJson: string;
  /** sha256 of tableJson (hex). */
  sha256: string;
  /** The table's own `version` field, or the first 12 hex digits of sha256. */
  tableVersion: string;
  publishedAt: number;
  publishedBy: string;
}

const StoredSchema = v.object({
  revision: v.pipe(v.string(), v.regex(/^[0-9]+$/), v.transform(Number)),
  table: v.string(),
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)),
  tableVersion: v.string(),
  publishedAt: v.pipe(v.string(), v.regex(/^[0-9]+$/), v.transform(Number)),
  publishedBy: v.string(),
});

export class PublishedTableError extends Error {
  override readonly name = 'PublishedTableError';
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The version an instance runs for a published document: `<tableVersion>@r<revision>`. */
export function fleetVersion(doc: Pick<PublishedTable, 'tableVersion' | 'revision'>): string {
  return `${doc.tableVersion}@r${doc.revision}`;
}

/** Decode the stored hash; null when nothing was ever published; throws PublishedTableError when damaged. */
export function decodePublished(hash: Record<string, string>): PublishedTable | null {
  if (Object.keys(hash).length === 0) return null;
  const r = v.safeParse(StoredSchema, hash);
  if (!r.success) {
    const issue = r.issues[0]!;
    throw new PublishedTableError(
      `published table in ${FLEET_KEYS.table} is damaged: field ${issue.path?.map((p) => String(p.key)).join('.') ?? '?'}: ${issue.message}`,
    );
  }
  const o = r.output;
  if (sha256(o.table) !== o.sha256) throw new PublishedTableError(`published table r${o.revision}: sha256 does not match its content`);
  return { revision: o.revision, tableJson: o.table, sha256: o.sha256, tableVersion: o.tableVersion, publishedAt: o.publishedAt, publishedBy: o.publishedBy };
}

export async function readPublished(redis: Redis): Promise<PublishedTable | null> {
  return decodePublished(await redis.hgetall(FLEET_KEYS.table));
}

export async function readRevision(redis: Redis): Promise<number> {
  const r = await redis.hget(FLEET_KEYS.table, 'revision');
  return r ? Number(r) : 0;
}

/**
 * The table an instance applies: the published JSON with `version` naming the fleet revision
 * (`<tableVersion>@r<revision>`), so /gateway/routes shows which revision the instance runs.
 * Throws on JSON that is not an object (the applier validates everything else).
 */
export function tableToApply(doc: PublishedTable): Record<string, unknown> {
  const raw: unknown = JSON.parse(doc.tableJson);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PublishedTableError(`published table r${doc.revision} is not a JSON object`);
  return { ...(raw as Record<string, unknown>), version: fleetVersion(doc) };
}

// KEYS: table hash, history list. ARGV: table json, sha, tableVersion, publishedAt, publishedBy,
// expected revision ('' = any), history length, channel.
const PUBLISH_LUA = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if ARGV[6] ~= '' and tonumber(ARGV[6]) ~= cur then return {-1, cur} end
local old = redis.call('HGETALL', KEYS[1])
if #old > 0 then
  local doc = {}
  for i = 1, #old, 2 do doc[old[i]] = old[i + 1] end
  redis.call('LPUSH', KEYS[2], cjson.encode(doc))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
local rev = cur + 1
redis.call('HSET', KEYS[1], 'revision', rev, 'table', ARGV[1], 'sha256', ARGV[2], 'tableVersion', ARGV[3],
  'publishedAt', ARGV[4], 'publishedBy', ARGV[5])
redis.call('PUBLISH', ARGV[8], rev)
return {rev, cur}
`;

export interface PublishOptions {
  knownModules: readonly string[];
  /** Who published (user@host, CI job...). */
  by: string;
  now: number;
  /** Compare-and-set: fail unless the current revision is this one. */
  expectRevision?: number | undefined;
}

export type PublishResult =
  | { ok: true; revision: number; previousRevision: number; sha256: string; tableVersion: string; warnings: string[] }
  | { ok: false; errors: string[] };

/** Validate and publish a table (object or JSON text). Nothing is written when validation fails. */
export async function publishTable(redis: Redis, input: unknown, opts: PublishOptions): Promise<PublishResult> {
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (err) {
      return { ok: false, errors: [`table: invalid JSON: ${(err as Error).message}`] };
    }
  }
  const checked = validateTable(raw, { knownModules: opts.knownModules });
  if (!checked.ok) return { ok: false, errors: checked.errors };
  // Store the table as written (defaults not applied), canonical JSON text.
  const json = JSON.stringify(raw);
  const sha = sha256(json);
  const tableVersion = checked.table.version ?? sha.slice(0, 12);
  const reply = (await redis.eval(
    PUBLISH_LUA,
    2,
    FLEET_KEYS.table,
    FLEET_KEYS.history,
    json,
    sha,
    tableVersion,
    String(opts.now),
    opts.by,
    opts.expectRevision === undefined ? '' : String(opts.expectRevision),
    String(HISTORY_LENGTH),
    FLEET_KEYS.channel,
  )) as [number, number];
  if (reply[0] === -1) {
    return { ok: false, errors: [`revision changed: expected r${opts.expectRevision}, the fleet is at r${reply[1]} (someone else published)`] };
  }
  return { ok: true, revision: reply[0], previousRevision: reply[1], sha256: sha, tableVersion, warnings: checked.warnings };
}

/** Previous published documents, newest first. */
export async function readHistory(redis: Redis): Promise<PublishedTable[]> {
  const items = await redis.lrange(FLEET_KEYS.history, 0, -1);
  const out: PublishedTable[] = [];
  for (const item of items) {
    try {
      const doc = decodePublished(JSON.parse(item) as Record<string, string>);
      if (doc) out.push(doc);
    } catch {
      // a damaged history entry is skipped, not fatal
    }
  }
  return out;
}

/**
 * Roll back: publish again the table of the revision before the current one (as a new revision, so every
 * instance moves forward to it). `toRevision` picks an older one from the history.
 */
export async function rollbackTable(
  redis: Redis,
  opts: PublishOptions & { toRevision?: number | undefined },
): Promise<PublishResult & { restoredRevision?: number }> {
  const history = await readHistory(redis);
  const target = opts.toRevision === undefined ? history[0] : history.find((d) => d.revision === opts.toRevision);
  if (!target) {
    return {
      ok: false,
      errors: [
        opts.toRevision === undefined
          ? 'nothing to roll back to: no earlier published revision in the history'
          : `revision r${opts.toRevision} is not in the history (kept: ${history.map((d) => `r${d.revision}`).join(', ') || 'none'})`,
      ],
    };
  }
  const result = await publishTable(redis, target.tableJson, opts);
  return result.ok ? { ...result, restoredRevision: target.revision } : result;
}
