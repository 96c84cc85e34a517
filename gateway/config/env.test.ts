import { describe, expect, it } from 'vitest';
import { loadConfig } from './env.js';

describe('loadConfig', () => {
  it('applies defaults', () => {
    const c = loadConfig({});
    expect(c.GATEWAY_PORT).toBe(8080);
    expect(c.GATEWAY_ADMIN_PORT).toBe(8081);
    expect(c.LEGACY_URL).toBe('http://127.0.0.1:3000');
    expect(c.TIMEZONE_OFFSET).toBe(8);
  });
  it('keeps the legacy TIMEZONE_OFFSET quirk (0 becomes 8)', () => {
    expect(loadConfig({ TIMEZONE_OFFSET: '0' }).TIMEZONE_OFFSET).toBe(8);
    expect(loadConfig({ TIMEZONE_OFFSET: '-5' }).TIMEZONE_OFFSET).toBe(-5);
  });
  it('PostgreSQL pool size and SYSTEM_TIMEZONE like the legacy (parseInt || 10; || Asia/Shanghai)', () => {
    expect(loadConfig({}).POSTGRES_MAX_POOL_SIZE).toBe(10);
    expect(loadConfig({ POSTGRES_MAX_POOL_SIZE: '3' }).POSTGRES_MAX_POOL_SIZE).toBe(3);
    expect(loadConfig({ POSTGRES_MAX_POOL_SIZE: '0' }).POSTGRES_MAX_POOL_SIZE).toBe(10);
    expect(loadConfig({}).SYSTEM_TIMEZONE).toBe('Asia/Shanghai');
    expect(loadConfig({ SYSTEM_TIMEZONE: 'UTC' }).SYSTEM_TIMEZONE).toBe('UTC');
  });
  it('names the bad variable in one line', () => {
    expect(() => loadConfig({ GATEWAY_PORT: 'abc' })).toThrow(/GATEWAY_PORT="abc"/);
    expect(() => loadConfig({ LEGACY_URL: 'nope' })).toThrow(/LEGACY_URL/);
  });
});
