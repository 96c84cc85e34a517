import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { AccountCipher } from '../crypto/account-crypto.js';
import { LuaScript } from '../locks/lua-script.js';
import type { Clock } from '../runtime/clock.js';
import type { IdSource } from '../runtime/ids.js';
import type { AccountHash, AccountRepository } from '../storage/accounts.js';
import { keys } from '../storage/keys.js';
import type { AgentPool } from '../upstream/agents.js';
import { readBody, sendUpstream } from '../upstream/client.js';
import { resolveEffectiveProxy } from '../upstream/proxy-policy.js';
import { ProxyPolicyCache } from '../upstream/proxy-policy-cache.js';
import type { ProxyConfig } from '../upstream/proxy.js';
import { applySessionWindow } from './account-marks.js';
import type { AnomalyNotifier } from '../notify/notifier.js';

/**
 * getValidAccessToken / refreshAccountToken (relay-claude.md §9): the token is refreshed when
 * `expiresAt` is missing or within 60 s; the refresh runs under `token_refresh_lock:claude:<id>`
 * (SET NX EX 60, compare-and-delete release), stores the new tokens encrypted with the account
 * cipher, and on failure marks the account `status:'error'` and falls back to the stored token.
 */
export const OAUTH_CLIENT_ID = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
export const TOKEN_URL = 'https://console.anthropic.com/v1/oauth/token';

const RELEASE = new LuaScript(
  'token-refresh-release',
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
  1,
);

export interface AccessTokenDeps {
  redis: Redis;
  clock: Clock;
  ids: IdSource;
  log: Pick<Logger, 'warn' | 'error'>;
  accounts: AccountRepository;
  cipher: AccountCipher;
  agents: AgentPool;
  /** Base URL standing in for console.anthropic.com (replays, tests). */
  upstreamOverride?: string | undefined;
  /** Wait when another process holds the refresh lock (legacy: 2000 ms). */
  lockWaitMs?: number;
  /** GLOBAL_PROXY_* fallback proxy. */
  globalProxy?: ProxyConfig | null | undefined;
  /** The relay services' proxy-policy cache (shared with the relays); else one of its own. */
  proxyPolicy?: ProxyPolicyCache | undefined;
  /** Account-anomaly webhooks (refresh failure, 5-hour window resumed); none when absent. */
  notify?: AnomalyNotifier | undefined;
}

export class AccessTokens {
  private readonly proxyPolicy: ProxyPolicyCache;

  constructor(private readonly d: AccessTokenDeps) {
    this.proxyPolicy = d.proxyPolicy ?? new ProxyPolicyCache(d.redis, d.clock);
  }

  async get(accountId: string): Promise<string> {
    return (await this.getWithAccount(accountId)).token;
  }

  /** The token and the account hash as stored after this call (saves the caller a re-read). */
  async getWithAccount(accountId: string): Promise<{ token: string; account: AccountHash | null }> {
    const account = await this.d.accounts.get('claude', accountId);
    if (!account || Object.keys(account).length === 0) throw new Error('Account not found');
    if (account['isActive'] !== 'true') throw new Error('Account is disabled');
    const now = this.d.clock.now();
    const expiresAt = Number.parseInt(account['expiresAt'] ?? '', 10);
    const expired = !expiresAt || now >= expiresAt - 60_000;
    if (expired) {
      let token: string;
      try {
        token = await this.refresh(accountId);
      } catch (err) {
        const current = this.d.cipher.decrypt('claude', account['accessToken']);
        if (!current) throw err;
        token = current;
      }
      return { token, account: await this.d.accounts.get('claude', accountId) };
    }
    const token = this.d.cipher.decrypt('claude', account['accessToken']);
    if (!token) throw new Error('No access token available');
    account['lastUsedAt'] = new Date(now).toISOString();
    const remove = applySessionWindow(account, now, this.d.notify, accountId, this.d.clock.timezoneOffsetHours);
    if (remove.length) await this.d.redis.hdel(keys.account('claude', accountId), ...remove);
    await this.d.accounts.save('claude', accountId, account);
    return { token, account: remove.length ? await this.d.accounts.get('claude', accountId) : account };
  }

  async refresh(accountId: string): Promise<string> {
    const lockKey = keys.tokenRefreshLock('claude', accountId);
    let lockValue: string | null = null;
    try {
      const account = await this.d.accounts.get('claude', accountId);
      if (!account) throw new Error('Account not found');
      const refreshToken = this.d.cipher.decrypt('claude', account['refreshToken']);
      if (!refreshToken) throw new Error('No refresh token available - manual token update required');

      const value = this.d.ids.uuid();
      const got = await this.d.redis.set(lockKey, value, 'EX', 60, 'NX');
      if (got !== 'OK') {
        await new Promise((r) => setTimeout(r, this.d.lockWaitMs ?? 2000));
        const updated = await this.d.accounts.get('claude', accountId);
        if (updated?.['accessToken']) return this.d.cipher.decrypt('claude', updated['accessToken']);
        throw new Error('Token refresh in progress by another process');
      }
      lockValue = value;

      const data = await this.postRefresh(accountId, account, refreshToken);
      const next: AccountHash = { ...account };
      if (data['subscription'] || data['plan'] || data['tier'] || data['account_type']) {
        next['subscriptionInfo'] = JSON.stringify({
          subscription: data['subscription'],
          plan: data['plan'],
          tier: data['tier'],
          accountType: data['account_type'],
          features: data['features'],
          limits: data['limits'],
        });
      }
      next['accessToken'] = this.d.cipher.encrypt('claude', data['access_token'] as string | undefined);
      next['refreshToken'] = this.d.cipher.encrypt('claude', data['refresh_token'] as string | undefined);
      next['expiresAt'] = String(this.d.clock.now() + Number(data['expires_in']) * 1000);
      next['lastRefreshAt'] = new Date(this.d.clock.now()).toISOString();
      next['status'] = 'active';
      next['errorMessage'] = '';
      await this.d.accounts.save('claude', accountId, next);
      return String(data['access_token'] ?? '');
    } catch (err) {
      const current = await this.d.accounts.get('claude', accountId);
      if (current) {
        current['status'] = 'error';
        current['errorMessage'] = (err as Error).message;
        await this.d.accounts.save('claude', accountId, current);
        this.d.notify?.accountAnomaly({
          accountId,
          accountName: current['name'],
          platform: 'claude-oauth',
          status: 'error',
          errorCode: 'CLAUDE_OAUTH_ERROR',
          reason: `Token refresh failed: ${(err as Error).message}`,
        });
      }
      throw err;
    } finally {
      if (lockValue) await RELEASE.run(this.d.redis, [lockKey], [lockValue]).catch(() => undefined);
    }
  }

  private async postRefresh(accountId: string, account: AccountHash, refreshToken: string): Promise<Record<string, unknown>> {
    const url = this.d.upstreamOverride ? new URL('/v1/oauth/token', this.d.upstreamOverride) : new URL(TOKEN_URL);
    const body = Buffer.from(JSON.stringify({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: OAUTH_CLIENT_ID }));
    const proxy = this.d.upstreamOverride
      ? null
      : (await resolveEffectiveProxy(this.proxyPolicy, { accountId, platform: account['platform'] || 'claude', accountProxy: account['proxy'], envFallback: this.d.globalProxy })).proxy;
    const { response } = await sendUpstream(this.d.agents, {
      url,
      method: 'POST',
      headers: [
        'Accept', 'application/json, text/plain, */*',
        'Content-Type', 'application/json',
        'User-Agent', 'claude-cli/1.0.56 (external, cli)',
        'Accept-Language', 'en-US,en;q=0.9',
        'Referer', 'https://claude.ai/',
        'Origin', 'https://claude.ai',
        'Content-Length', String(body.length),
        'Accept-Encoding', 'gzip, compress, deflate, br',
        'Host', new URL(TOKEN_URL).host,
        'Connection', 'keep-alive',
      ],
      body,
      proxy,
      timeoutMs: 30_000,
    });
    const raw = await readBody(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new Error(`Request failed with status code ${status}`);
    if (status !== 200) throw new Error(`Token refresh failed with status: ${status}`);
    return JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
  }
}
