import type { MigratedModuleFactory } from '../module.js';
import { checkMessagesBody } from '../relay-claude/body-schema.js';
import { catchBlockBody, setSseHeaders } from '../relay-claude/legacy-render.js';
import { relayModule } from '../relay-claude/relay-module.js';
import { sessionHashOf } from '../scheduler/session-hash.js';
import type { ProviderRelayCall } from './relay-call.js';

export type ProviderRelay = (c: ProviderRelayCall) => Promise<void>;
export interface ProviderWiring {
  bedrock?: ProviderRelay;
  ccr?: ProviderRelay;
  /** The CCR selection for `ccr,` models (the scheduler throws NO_ACCOUNT for them). */
  selectCcr?: (s: ProviderRelayCall['s'], sessionHash: string | null, model: string | null) => Promise<{ accountId: string; accountType: string } | null>;
}

/**
 * A messages route exactly as `claude-messages` runs it (auth, edge validation, SSE headers,
 * one scheduling call, catch block) with the proposed wiring of the Bedrock / CCR relays —
 * so these relays are tested end to end without touching relay-claude.
 */
export function providerMessagesModule(w: ProviderWiring): MigratedModuleFactory {
  return (deps) =>
    relayModule('provider-messages-test', deps, async (s, call, a) => {
      const checked = checkMessagesBody(call.body);
      const reply = call.reply();
      if (!checked.ok) {
        reply.json(checked.status, checked.body);
        return;
      }
      const body = checked.body;
      const isStream = body['stream'] === true;
      if (isStream) setSseHeaders(reply);
      const model = typeof body['model'] === 'string' ? body['model'] : null;
      try {
        const sessionHash = sessionHashOf(body);
        const ccr = w.selectCcr ? await w.selectCcr(s, sessionHash, model) : null;
        const selected = ccr ?? (await s.scheduler.select(a.key, sessionHash, model, null, a.readAhead));
        const relay = selected.accountType === 'bedrock' ? w.bedrock : selected.accountType === 'ccr' ? w.ccr : undefined;
        if (!relay) throw new Error(`unexpected account type ${selected.accountType}`);
        const common = { s, key: a.key, clientHeaders: call.req.headers, body, accountId: selected.accountId, signal: call.ctx.signal };
        await relay({ ...common, sessionHash, isStream, reply, res: call.res, onUsage: (u) => void s.usage.record({ ...u, keyId: a.key.id, rateLimitWindow: !!a.rateLimit, keySnapshot: a.key.record }) });
      } catch (err) {
        if (!call.res.headersSent && !call.res.destroyed) {
          const out = catchBlockBody(err, call.nowIso());
          reply.json(out.status, out.body);
        } else if (!call.res.writableEnded && !call.res.destroyed) call.res.end();
      }
    });
}
