import { InvokeModelCommand, InvokeModelWithResponseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { effectiveModel } from '../auth/permissions.js';
import { renderResult, respondAfterUsage, streamSink } from '../relay-claude/legacy-render.js';
import { writeQueueRejection } from '../relay-claude/official-relay.js';
import { inUserMessageQueue, type QueueGate } from '../relay-claude/user-message-queue.js';
import { bedrockClientsFor, type AwsCredentials } from './bedrock-clients.js';
import { nonStreamUsage, withCompressionVary, type ProviderRelayCall } from './relay-call.js';
import { bedrockPayload, selectModelId, selectRegion } from './request-mapping.js';
import { bedrockErrorMessage, claudeMessageFromBedrock, convertStreamEvent, sseOf } from './response-mapping.js';

/**
 * The Bedrock relay (relay-openai-gemini-bedrock.md §D, api.js' `accountType === 'bedrock'`
 * branches): InvokeModel / InvokeModelWithResponseStream with the account's region and decrypted
 * credentials, the legacy's model mapping, payload, response and stream conversion, error
 * wording, and usage as api.js recorded it. No account state is written (as in the legacy).
 */

const ACCOUNT_FAILED = 'Failed to get Bedrock account details';
const decoder = new TextDecoder();

interface Prepared {
  account: Record<string, unknown>;
  credentials: AwsCredentials | null;
}

/** bedrockAccountService.getAccount: JSON account, credentials decrypted; any failure → null. */
async function loadAccount(c: ProviderRelayCall): Promise<Prepared | null> {
  try {
    const account = await c.s.accounts.getBedrock(c.accountId);
    if (!account) return null;
    let credentials: AwsCredentials | null = null;
    if (account['awsCredentials']) {
      const d = c.s.cipher.decryptBedrock(account['awsCredentials']);
      credentials = { accessKeyId: d['accessKeyId'] as string, secretAccessKey: d['secretAccessKey'] as string, sessionToken: (d['sessionToken'] as string | undefined) ?? undefined };
    }
    return { account, credentials };
  } catch (err) {
    c.s.deps.log.warn({ err: (err as Error).message, accountId: c.accountId }, 'bedrock account unreadable');
    return null;
  }
}

function serviceError(message: string): Record<string, unknown> {
  return { error: 'Bedrock service error', message };
}

/** Relay one request to a Bedrock account, stream or not, and render the outcome. */
export async function relayBedrock(c: ProviderRelayCall): Promise<void> {
  const prepared = await loadAccount(c);
  if (!prepared) {
    if (!c.res.headersSent && !c.res.destroyed) c.reply.json(500, serviceError(ACCOUNT_FAILED));
    return;
  }
  // the user-message queue (off by default) around the SDK call, as bedrockRelayService
  if (c.isStream) await inUserMessageQueue(c.s, c.accountId, c.body, (r) => writeQueueRejection(streamSink(c.reply, c.res), r), (gate) => bedrockStream(c, prepared, gate));
  else await inUserMessageQueue(c.s, c.accountId, c.body, () => queueRefusedNonStream(c), (gate) => bedrockNonStream(c, prepared, gate));
}

/**
 * handleNonStreamRequest's queue refusal returns `{statusCode, headers, body, success: false}`;
 * api.js' Bedrock branch only reads `success` / `data` / `error` from it, so the client gets
 * 500 `{}` (no queue error body or header).
 */
function queueRefusedNonStream(c: ProviderRelayCall): void {
  if (c.res.destroyed || c.res.socket?.destroyed || c.res.writableEnded) return;
  renderResult(c.reply, { status: 500, headers: [['Content-Type', 'application/json']], body: '{}', accountId: c.accountId }, {});
}

function setup(c: ProviderRelayCall, p: Prepared) {
  const clients = bedrockClientsFor(c.s);
  const modelId = selectModelId(c.body, p.account, clients.settings);
  const region = selectRegion(modelId, p.account, clients.settings);
  const client = clients.clientFor(region, c.accountId, p.credentials);
  const body = JSON.stringify(bedrockPayload(c.body, clients.settings.maxOutputTokens));
  return { client, modelId, body, settings: clients.settings };
}

async function bedrockNonStream(c: ProviderRelayCall, p: Prepared, gate: QueueGate): Promise<void> {
  let status = 200;
  let json: Record<string, unknown>;
  try {
    const { client, modelId, body, settings } = setup(c, p);
    const response = await client.send(new InvokeModelCommand({ modelId, body, contentType: 'application/json', accept: 'application/json' }), { abortSignal: c.signal });
    const parsed = JSON.parse(decoder.decode(response.body)) as Record<string, unknown>;
    json = claudeMessageFromBedrock(parsed, settings.defaultModel, c.s.deps.clock.now());
  } catch (err) {
    status = 500;
    json = serviceError(bedrockErrorMessage(err));
  }
  await gate.release(); // answered or failed (the legacy's early release / finally): before the client gets it
  // api.js: a client that went away gets nothing and nothing is recorded
  if (c.res.destroyed || c.res.socket?.destroyed || c.res.writableEnded) return;
  const usage = nonStreamUsage(json, c.body['model'], c.accountId, effectiveModel);
  if (usage) c.onUsage(usage);
  respondAfterUsage(c.s, c.res, () => renderResult(c.reply, { status, headers: [['Content-Type', 'application/json']], body: JSON.stringify(json), accountId: c.accountId }, json));
}

async function bedrockStream(c: ProviderRelayCall, p: Prepared, gate: QueueGate): Promise<void> {
  const { res, reply } = c;
  const writable = () => !res.destroyed && !res.writableEnded;
  let modelId = '';
  let stopUsage: Record<string, unknown> | null = null;
  try {
    const x = setup(c, p);
    modelId = x.modelId;
    const response = await x.client.send(
      new InvokeModelWithResponseStreamCommand({ modelId: x.modelId, body: x.body, contentType: 'application/json', accept: 'application/json' }),
      { abortSignal: c.signal },
    );
    await gate.release(); // the stream started: the queue moves on
    if (!res.headersSent) reply.writeHead(200, [['Access-Control-Allow-Headers', 'Content-Type, Authorization']]);
    for await (const item of response.body ?? []) {
      const bytes = item.chunk?.bytes;
      if (!bytes) continue;
      const event = convertStreamEvent(JSON.parse(decoder.decode(bytes)) as Record<string, unknown>, x.settings.defaultModel, c.s.deps.clock.now());
      if (!event) continue;
      if (writable()) res.write(sseOf(event));
      if (event.type === 'message_stop' && event.data['usage']) stopUsage = event.data['usage'] as Record<string, unknown>;
    }
    if (writable()) res.end('event: done\ndata: [DONE]\n\n');
  } catch (err) {
    if (c.signal.aborted) {
      // client gone: the legacy kept reading to the end and then recorded message_stop's usage
      // (in practice `{}` → 0/0); we stop the upstream at once and record the same.
      recordStream(c, modelId, stopUsage ?? {});
      return;
    }
    if (!res.headersSent && !res.destroyed) reply.writeHead(500, withCompressionVary([['Content-Type', 'application/json']], 'application/json'));
    if (writable()) res.end(`event: error\ndata: ${JSON.stringify({ error: bedrockErrorMessage(err) })}\n\n`);
    return;
  }
  if (stopUsage) recordStream(c, modelId, stopUsage);
}

/** api.js bedrock stream: recordUsage(key, input||0, output||0, 0, 0, <bedrock model id>, account). */
function recordStream(c: ProviderRelayCall, modelId: string, u: Record<string, unknown>): void {
  c.onUsage({
    accountId: c.accountId,
    model: modelId,
    usage: { input_tokens: (u['input_tokens'] as number) || 0, output_tokens: (u['output_tokens'] as number) || 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    recorder: 'basic',
  });
}
