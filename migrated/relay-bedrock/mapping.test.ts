import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { bedrockPayload, selectModelId, selectRegion, toBedrockModelId } from './request-mapping.js';
import { bedrockErrorMessage, claudeMessageFromBedrock, convertStreamEvent } from './response-mapping.js';
import { loadConfig } from '../../gateway/config/env.js';
import { BedrockClients, MISSING_CREDENTIALS } from './bedrock-clients.js';
import { withCompressionVary } from './relay-call.js';
import { bedrockSettingsFromConfig } from './settings.js';

const settingsFor = (env: Record<string, string>) => bedrockSettingsFromConfig(loadConfig(env));

const settings = settingsFor({});

describe('settings from the gateway config', () => {
  it("defaults and the legacy's parsing (parseInt(x) || 4096, empty counts as unset, haiku region falls back to AWS_REGION)", () => {
    expect(settingsFor({})).toEqual({ defaultRegion: 'us-east-1', smallFastModelRegion: 'us-east-1', defaultModel: 'us.anthropic.claude-sonnet-4-20250514-v1:0', maxOutputTokens: 4096, envCredentials: null });
    expect(settingsFor({ AWS_REGION: 'eu-west-3', ANTHROPIC_MODEL: 'claude-3-7-sonnet', CLAUDE_CODE_MAX_OUTPUT_TOKENS: '8192tokens' })).toMatchObject({ defaultRegion: 'eu-west-3', smallFastModelRegion: 'eu-west-3', defaultModel: 'claude-3-7-sonnet', maxOutputTokens: 8192 });
    for (const bad of ['abc', '0', '']) expect(settingsFor({ CLAUDE_CODE_MAX_OUTPUT_TOKENS: bad }).maxOutputTokens).toBe(4096);
    expect(settingsFor({ AWS_REGION: '' }).defaultRegion).toBe('us-east-1');
  });

  it('env credentials only when both the id and the secret are set; the SDK client of an account without credentials uses them', async () => {
    expect(settingsFor({ AWS_ACCESS_KEY_ID: 'AKIAONLY' }).envCredentials).toBeNull();
    const withEnv = settingsFor({ AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_SESSION_TOKEN: 'env-token' });
    expect(withEnv.envCredentials).toEqual({ accessKeyId: 'AKIAENV', secretAccessKey: 'env-secret', sessionToken: 'env-token' });
    const agent = new Agent();
    const clients = new BedrockClients(withEnv, undefined, () => agent);
    const creds = await clients.clientFor('us-east-1', 'acc', null).config.credentials();
    expect([creds.accessKeyId, creds.secretAccessKey, creds.sessionToken]).toEqual(['AKIAENV', 'env-secret', 'env-token']);
    expect(() => new BedrockClients(settingsFor({}), undefined, () => agent).clientFor('us-east-1', 'acc', null)).toThrow(MISSING_CREDENTIALS);
    clients.destroy();
    agent.destroy();
  });
});

describe('request mapping', () => {
  it('maps the legacy table exactly, keeps Bedrock ids, passes unknown names', () => {
    expect(toBedrockModelId('claude-opus-4')).toBe('us.anthropic.claude-opus-4-1-20250805-v1:0');
    expect(toBedrockModelId('claude-3-5-sonnet')).toBe('us.anthropic.claude-3-5-sonnet-20241022-v2:0');
    expect(toBedrockModelId('claude-3-haiku-20240307')).toBe('us.anthropic.claude-3-haiku-20240307-v1:0');
    expect(toBedrockModelId('eu.anthropic.claude-x')).toBe('eu.anthropic.claude-x');
    expect(toBedrockModelId('anthropic.claude-v2')).toBe('anthropic.claude-v2');
    expect(toBedrockModelId('claude-sonnet-4-5-20250929')).toBe('claude-sonnet-4-5-20250929');
    expect(toBedrockModelId('Claude-Sonnet-4')).toBe('Claude-Sonnet-4');
  });

  it('model: account default > request > ANTHROPIC_MODEL; region: account > haiku region > default', () => {
    expect(selectModelId({ model: 'claude-3-haiku' }, { defaultModel: 'claude-sonnet-4' }, settings)).toBe('us.anthropic.claude-sonnet-4-20250514-v1:0');
    expect(selectModelId({}, {}, settings)).toBe('us.anthropic.claude-sonnet-4-20250514-v1:0');
    const s2 = settingsFor({ AWS_REGION: 'eu-west-1', ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION: 'us-west-2' });
    expect(selectRegion('us.anthropic.claude-3-5-haiku-20241022-v1:0', {}, s2)).toBe('us-west-2');
    expect(selectRegion('us.anthropic.claude-sonnet-4-20250514-v1:0', {}, s2)).toBe('eu-west-1');
    expect(selectRegion('x-haiku', { region: 'ap-1' }, s2)).toBe('ap-1');
  });

  it('payload: legacy key order, max_tokens capped, falsy optional fields dropped', () => {
    const p = bedrockPayload({ tool_choice: { type: 'auto' }, tools: [], top_k: 0, top_p: undefined, max_tokens: 100, model: 'm', stream: true, thinking: {}, messages: [1] }, 4096);
    expect(JSON.stringify(p)).toBe('{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[1],"top_k":0,"tools":[],"tool_choice":{"type":"auto"}}');
    expect(bedrockPayload({ max_tokens: 64000 }, 4096)).toEqual({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 4096, messages: [] });
    expect(bedrockPayload({ max_tokens: 0 }, settingsFor({ CLAUDE_CODE_MAX_OUTPUT_TOKENS: '8192' }).maxOutputTokens)['max_tokens']).toBe(8192);
  });
});

describe('response mapping', () => {
  it('non-stream message with defaults', () => {
    expect(claudeMessageFromBedrock({}, 'dm', 5)).toEqual({ id: 'msg_5_bedrock', type: 'message', role: 'assistant', content: [], model: 'dm', stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } });
  });

  it('stream events: four kept with the legacy shapes, the rest dropped', () => {
    expect(convertStreamEvent({ type: 'message_start', message: { model: 'real', usage: { input_tokens: 3 } } }, 'dm', 7)).toEqual({
      type: 'message_start',
      data: { type: 'message', id: 'msg_7_bedrock', role: 'assistant', content: [], model: 'dm', stop_reason: null, stop_sequence: null, usage: { input_tokens: 3 } },
    });
    expect(convertStreamEvent({ type: 'content_block_delta', delta: { text: 'a' } }, 'dm', 7)).toEqual({ type: 'content_block_delta', data: { index: 0, delta: { text: 'a' } } });
    expect(convertStreamEvent({ type: 'message_stop', usage: { output_tokens: 2 } }, 'dm', 7)).toEqual({ type: 'message_stop', data: { usage: { output_tokens: 2 } } });
    for (const t of ['content_block_start', 'content_block_stop', 'ping', 'error']) expect(convertStreamEvent({ type: t }, 'dm', 7)).toBeNull();
  });

  it('error wording by SDK error name', () => {
    expect(bedrockErrorMessage(Object.assign(new Error('bad field'), { name: 'ValidationException' }))).toBe('Bedrock参数验证失败: bad field');
    expect(bedrockErrorMessage(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe('Bedrock请求限流，请稍后重试');
    expect(bedrockErrorMessage(Object.assign(new Error('x'), { name: 'ModelNotReadyException' }))).toBe('Bedrock模型未就绪，请稍后重试');
    expect(bedrockErrorMessage(new Error('boom'))).toBe('Bedrock服务错误: boom');
    expect(bedrockErrorMessage({})).toBe('Bedrock服务错误: Unknown Bedrock error');
  });
});

describe('compression Vary on a relay writeHead', () => {
  it('added for compressible types, not for exactly text/event-stream (the compression filter)', () => {
    const base: Array<[string, string]> = [['Content-Type', 'x']];
    expect(withCompressionVary(base, 'application/json')).toEqual([...base, ['Vary', 'Accept-Encoding']]);
    expect(withCompressionVary(base, 'text/html; charset=utf-8')).toEqual([...base, ['Vary', 'Accept-Encoding']]);
    expect(withCompressionVary(base, 'text/event-stream; charset=utf-8')).toEqual([...base, ['Vary', 'Accept-Encoding']]);
    expect(withCompressionVary(base, 'text/event-stream')).toEqual(base);
    expect(withCompressionVary(base, 'application/octet-stream')).toEqual(base);
  });
});
