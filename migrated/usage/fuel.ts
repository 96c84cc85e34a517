import type { Redis } from 'ioredis';
import { LuaScript } from '../locks/lua-script.js';
import { keys, ttl } from '../storage/keys.js';

/**
 * Fuel-pack wallet consumption (legacy src/services/fuelPackService.js `consumeFuelPack`,
 * redis-keys.md §8), written as our own Lua with the same semantics and number formatting:
 *  1. drop expired entries (score <= now), adding their remaining amount to "expired";
 *  2. consume `cost` from the earliest-expiring entries (remainder written with Lua tostring,
 *     i.e. 14 significant digits; exhausted entries deleted);
 *  3. rewrite fuelBalance / fuelEntries / fuelNextExpiresAtMs / fuelUpdatedAtMs on the API-key hash;
 *  4. INCRBYFLOAT the used-daily (+EXPIRE) and used-total counters by the amount used.
 * Returns strings {used, newBalance, nextExpiresAtMs, entries} (Lua tostring).
 */
const SOURCE = `
local wallet, keyHash, usedDaily, usedTotal = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cost = tonumber(ARGV[1]) or 0
local now = tonumber(ARGV[2]) or 0
local dailyTtl = tonumber(ARGV[3]) or 0
local prefix = ARGV[4]
local used, expired = 0, 0

local function drop(id, countRemaining)
  local k = prefix .. id
  if countRemaining then
    local left = tonumber(redis.call('HGET', k, 'amountRemaining')) or 0
    if left > 0 then expired = expired + left end
  end
  redis.call('DEL', k)
  redis.call('ZREM', wallet, id)
end

repeat
  local batch = redis.call('ZRANGEBYSCORE', wallet, '-inf', now, 'LIMIT', 0, 200)
  for _, id in ipairs(batch) do drop(id, true) end
until #batch == 0

while cost > 0 do
  local head = redis.call('ZRANGE', wallet, 0, 0, 'WITHSCORES')
  if #head < 2 then break end
  local id, expiresAt = head[1], tonumber(head[2]) or 0
  if expiresAt <= now then
    drop(id, true)
  else
    local k = prefix .. id
    local left = tonumber(redis.call('HGET', k, 'amountRemaining')) or 0
    if left <= 0 then
      drop(id, false)
    else
      local take = left
      if cost < take then take = cost end
      local rest = left - take
      used = used + take
      cost = cost - take
      if rest <= 0 then drop(id, false) else redis.call('HSET', k, 'amountRemaining', tostring(rest)) end
    end
  end
end

local balance = (tonumber(redis.call('HGET', keyHash, 'fuelBalance')) or 0) - expired - used
if balance < 0 then balance = 0 end
local entries = tonumber(redis.call('ZCARD', wallet)) or 0
local nextAt = 0
local head = redis.call('ZRANGE', wallet, 0, 0, 'WITHSCORES')
if #head >= 2 then nextAt = tonumber(head[2]) or 0 end
redis.call('HSET', keyHash, 'fuelBalance', tostring(balance), 'fuelEntries', tostring(entries),
  'fuelNextExpiresAtMs', tostring(nextAt), 'fuelUpdatedAtMs', tostring(now))
if used > 0 then
  redis.call('INCRBYFLOAT', usedDaily, used)
  if dailyTtl > 0 then redis.call('EXPIRE', usedDaily, dailyTtl) end
  redis.call('INCRBYFLOAT', usedTotal, used)
end
return { tostring(used), tostring(balance), tostring(nextAt), tostring(entries) }
`;

export const consumeFuelScript = new LuaScript('consumeFuelPack', SOURCE, 4);

export interface FuelResult {
  fuelUsed: number;
  fuelBalance: number;
  fuelNextExpiresAtMs: number;
  fuelEntries: number;
}

/** Consume `cost` (0 = refresh: only drop expired entries) at `nowMs`; `date` = today's bucket. */
export async function consumeFuel(redis: Redis, keyId: string, cost: number, nowMs: number, date: string): Promise<FuelResult> {
  const c = Number.isFinite(cost) && cost > 0 ? cost : 0;
  const res = (await consumeFuelScript.run(
    redis,
    [keys.fuelWalletIndex(keyId), keys.apiKey(keyId), keys.fuelUsedDaily(keyId, date), keys.fuelUsedTotal(keyId)],
    [String(c), String(nowMs), String(ttl.fuelUsedDaily), keys.fuelWalletEntryPrefix()],
  )) as string[];
  return {
    fuelUsed: Number(res[0]) || 0,
    fuelBalance: Number(res[1]) || 0,
    fuelNextExpiresAtMs: Number(res[2]) || 0,
    fuelEntries: Number(res[3]) || 0,
  };
}
