import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../gateway/config/env.js';
import { httpSurfaceFromConfig } from '../http/legacy-surface.js';
import { relaySettingsFromConfig } from './relay-services.js';

/** The legacy's process settings come through GatewayConfig with the legacy's parsing and defaults. */
describe('legacy process settings from the config schema', () => {
  it('defaults', () => {
    const c = loadConfig({} as NodeJS.ProcessEnv);
    expect(relaySettingsFromConfig(c)).toEqual({ requestTimeoutMs: 600_000, apiVersion: '2023-06-01', stickyTtlHours: 1, renewalThresholdMinutes: 0, upstreamCaFile: undefined, billingEventsEnabled: true, globalProxy: null });
    expect(c.SYSTEM_PROMPT_THRESHOLD).toBe(0.5);
    expect(c.CONCURRENCY_MAX_LIFETIME_MINUTES).toBe(10);
    expect(c.CLEANUP_INTERVAL).toBe(3_600_000);
    expect(httpSurfaceFromConfig(c)).toEqual({ corsPackage: true, development: false, requestMaxBytes: 60 * 1024 * 1024 });
  });

  it('legacy parsing: parseInt/parseFloat || default, Number() for the prompt threshold, !== "false" for billing events', () => {
    const c = loadConfig({
      REQUEST_TIMEOUT: '1500ms',
      CLAUDE_API_VERSION: '2024-01-01',
      STICKY_SESSION_TTL_HOURS: '0.25',
      STICKY_SESSION_RENEWAL_THRESHOLD_MINUTES: 'x',
      GATEWAY_UPSTREAM_CA_FILE: '/tmp/ca.pem',
      SYSTEM_PROMPT_THRESHOLD: '0.8',
      CONCURRENCY_MAX_LIFETIME_MINUTES: '0',
      BILLING_EVENTS_ENABLED: 'false',
      ENABLE_CORS: 'false',
      NODE_ENV: 'development',
      REQUEST_MAX_SIZE_MB: '2',
      GLOBAL_PROXY_TYPE: 'SOCKS5',
      GLOBAL_PROXY_HOST: 'gp',
      GLOBAL_PROXY_PORT: '1080',
      CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES: '-3',
    } as NodeJS.ProcessEnv);
    expect(relaySettingsFromConfig(c)).toEqual({ requestTimeoutMs: 1500, apiVersion: '2024-01-01', stickyTtlHours: 0.25, renewalThresholdMinutes: 0, upstreamCaFile: '/tmp/ca.pem', billingEventsEnabled: false, globalProxy: { type: 'socks5', host: 'gp', port: 1080 } });
    expect(c.SYSTEM_PROMPT_THRESHOLD).toBe(0.8);
    expect(c.CONCURRENCY_MAX_LIFETIME_MINUTES).toBe(10);
    expect(c.CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES).toBe(0);
    expect(loadConfig({ CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES: '10m' } as NodeJS.ProcessEnv).CLAUDE_CONSOLE_BLOCKED_HANDLING_MINUTES).toBe(10);
    expect(httpSurfaceFromConfig(c)).toEqual({ corsPackage: false, development: true, requestMaxBytes: 2 * 1024 * 1024 });
    expect(loadConfig({ SYSTEM_PROMPT_THRESHOLD: 'abc', REQUEST_MAX_SIZE_MB: 'big' } as NodeJS.ProcessEnv)).toMatchObject({ SYSTEM_PROMPT_THRESHOLD: 0.5, REQUEST_MAX_SIZE_MB: 60 });
    expect(loadConfig({ CLEANUP_INTERVAL: '600000ms' } as NodeJS.ProcessEnv).CLEANUP_INTERVAL).toBe(600_000);
    expect(loadConfig({ CLEANUP_INTERVAL: 'hourly' } as NodeJS.ProcessEnv).CLEANUP_INTERVAL).toBe(3_600_000);
  });
});
