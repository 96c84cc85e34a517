import { effectiveOffsetHours } from '../storage/keys.js';

/**
 * The legacy's notification time strings (src/utils/dateHelper.js), over the configured
 * TIMEZONE_OFFSET (`|| 8`, as the legacy applies it): wall time = epoch + offset read with UTC getters.
 */

const pad2 = (n: number): string => String(n).padStart(2, '0');

function wallClock(epochMs: number, offsetHours: number): string {
  const t = new Date(epochMs + effectiveOffsetHours(offsetHours) * 3_600_000);
  return `${t.getUTCFullYear()}-${pad2(t.getUTCMonth() + 1)}-${pad2(t.getUTCDate())} ${pad2(t.getUTCHours())}:${pad2(t.getUTCMinutes())}:${pad2(t.getUTCSeconds())}`;
}

/** getISOStringWithTimezone: `YYYY-MM-DDTHH:mm:ss+08:00` (no milliseconds). */
export function isoWithOffset(epochMs: number, offsetHours: number): string {
  const off = effectiveOffsetHours(offsetHours);
  const abs = Math.abs(off);
  const suffix = `${off >= 0 ? '+' : '-'}${pad2(Math.floor(abs))}:${pad2(Math.round((abs % 1) * 60))}`;
  return `${wallClock(epochMs, offsetHours).replace(' ', 'T')}${suffix}`;
}

/**
 * formatDateWithTimezone(value): `YYYY-MM-DD HH:mm:ss (UTC+8)`. A number below 1e10 is read as
 * Unix seconds, otherwise as milliseconds (the legacy's guess).
 */
export function wallTimeWithZone(value: number, offsetHours: number): string {
  const ms = value < 10_000_000_000 ? value * 1000 : value;
  const off = effectiveOffsetHours(offsetHours);
  return `${wallClock(ms, offsetHours)} (UTC${off >= 0 ? '+' : ''}${off})`;
}

/** `new Date().toLocaleString('zh-CN', { timeZone })`: the time line of the chat-style messages. */
export function zhLocalTime(epochMs: number, timeZone: string): string {
  return new Date(epochMs).toLocaleString('zh-CN', { timeZone });
}
