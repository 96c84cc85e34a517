/**
 * Locally generated texts of the Claude relay (relay-claude.md §2.2, §4.1): the dedicated
 * account rate-limit and Opus weekly-limit messages with the reset time rendered like the
 * legacy's formatDateWithTimezone (`YYYY-MM-DD HH:mm:ss (UTC+8)`; numbers < 1e10 are seconds).
 */
const pad = (n: number) => String(n).padStart(2, '0');

export function formatResetTime(value: number | string | Date, offsetHours: number): string {
  let ms: number;
  if (typeof value === 'number') ms = value < 10_000_000_000 ? value * 1000 : value;
  else if (value instanceof Date) ms = value.getTime();
  else ms = new Date(value).getTime();
  const offset = offsetHours || 8;
  const t = new Date(ms + offset * 3_600_000);
  const text = `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`;
  return `${text} (UTC${offset >= 0 ? '+' : ''}${offset})`;
}

export function rateLimitMessage(reset: number | string | null, offsetHours: number): string {
  if (!reset) return '此专属账号已触发 Anthropic 限流控制。';
  return `此专属账号已触发 Anthropic 限流控制，将于 ${formatResetTime(reset, offsetHours)} 自动恢复。`;
}

export function opusLimitMessage(reset: number | string | null, offsetHours: number): string {
  if (!reset) return '此专属账号的Opus模型已达到周使用限制，请尝试切换其他模型后再试。';
  return `此专属账号的Opus模型已达到周使用限制，将于 ${formatResetTime(reset, offsetHours)} 自动恢复，请尝试切换其他模型后再试。`;
}
