import { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import type { Agent } from 'node:http';
import type { RelayServices } from '../relay-claude/relay-services.js';
import { Http1Handler } from './http1-handler.js';
import { bedrockSettingsFromConfig, type BedrockSettings } from './settings.js';

export const MISSING_CREDENTIALS = 'AWS凭证未配置。请在Bedrock账户中配置AWS访问密钥，或设置环境变量AWS_ACCESS_KEY_ID和AWS_SECRET_ACCESS_KEY';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/**
 * SDK clients per (region, account, credentials, endpoint). The legacy caches one client per
 * "<region>-<accountId>" for the life of the process, so a credential change needs a restart;
 * here the credentials are part of the key, so an updated account takes effect at once.
 * `endpoint` is deps.upstreamOverride (tests, replays) — the SDK then calls
 * `<override>/model/<id>/invoke[-with-response-stream]`.
 */
export class BedrockClients {
  private readonly clients = new Map<string, BedrockRuntimeClient>();

  constructor(
    readonly settings: BedrockSettings,
    private readonly endpoint: string | undefined,
    private readonly agentFor: (protocol: 'http:' | 'https:') => Agent,
  ) {}

  /** Throws the legacy's "credentials not configured" error when neither the account nor the env has any. */
  clientFor(region: string, accountId: string, credentials: AwsCredentials | null): BedrockRuntimeClient {
    const creds = credentials ?? this.settings.envCredentials;
    if (!creds) throw new Error(MISSING_CREDENTIALS);
    const cacheKey = JSON.stringify([region, accountId, creds.accessKeyId, creds.secretAccessKey, creds.sessionToken ?? null]);
    let client = this.clients.get(cacheKey);
    if (!client) {
      client = new BedrockRuntimeClient({
        region,
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, ...(creds.sessionToken ? { sessionToken: creds.sessionToken } : {}) },
        requestHandler: new Http1Handler(this.agentFor),
        ...(this.endpoint ? { endpoint: this.endpoint } : {}),
      });
      this.clients.set(cacheKey, client);
    }
    return client;
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}

/** One client set per relay-services instance (they share deps and lifetime); settings from deps.config. */
const perServices = new WeakMap<RelayServices, BedrockClients>();

export function bedrockClientsFor(s: RelayServices): BedrockClients {
  let c = perServices.get(s);
  if (!c) {
    c = new BedrockClients(bedrockSettingsFromConfig(s.deps.config), s.deps.upstreamOverride, (protocol) => s.agents.agentFor(protocol, null));
    perServices.set(s, c);
  }
  return c;
}

/** Close the SDK clients of a relay-services instance (their keep-alive sockets). */
export function closeBedrockClients(s: RelayServices): void {
  perServices.get(s)?.destroy();
  perServices.delete(s);
}
