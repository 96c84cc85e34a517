/**
 * Pure response side of the Bedrock relay (relay-openai-gemini-bedrock.md §D.4, §D.5).
 * `nowMs` feeds the legacy's `msg_<ms>_bedrock` ids.
 */

/** Non-stream: the Bedrock (Anthropic-shaped) body → the message the client gets. */
export function claudeMessageFromBedrock(r: Record<string, unknown>, defaultModel: string, nowMs: number): Record<string, unknown> {
  return {
    id: `msg_${nowMs}_bedrock`,
    type: 'message',
    role: 'assistant',
    content: r['content'] || [],
    model: r['model'] || defaultModel,
    stop_reason: r['stop_reason'] || 'end_turn',
    stop_sequence: r['stop_sequence'] || null,
    usage: r['usage'] || { input_tokens: 0, output_tokens: 0 },
  };
}

export interface ConvertedEvent {
  type: 'message_start' | 'content_block_delta' | 'message_delta' | 'message_stop';
  data: Record<string, unknown>;
}

/**
 * One decoded stream chunk → the event the legacy wrote, or null (content_block_start,
 * content_block_stop, ping and anything else are dropped). The data shapes are the legacy's:
 * message_start carries the bare message object with the default model, the deltas lose their
 * `type` field.
 */
export function convertStreamEvent(chunk: Record<string, unknown>, defaultModel: string, nowMs: number): ConvertedEvent | null {
  switch (chunk['type']) {
    case 'message_start': {
      const message = chunk['message'] as Record<string, unknown> | undefined;
      return {
        type: 'message_start',
        data: {
          type: 'message',
          id: `msg_${nowMs}_bedrock`,
          role: 'assistant',
          content: [],
          model: defaultModel,
          stop_reason: null,
          stop_sequence: null,
          usage: message?.['usage'] || { input_tokens: 0, output_tokens: 0 },
        },
      };
    }
    case 'content_block_delta':
      return { type: 'content_block_delta', data: { index: chunk['index'] || 0, delta: chunk['delta'] || {} } };
    case 'message_delta':
      return { type: 'message_delta', data: { delta: chunk['delta'] || {}, usage: chunk['usage'] || {} } };
    case 'message_stop':
      return { type: 'message_stop', data: { usage: chunk['usage'] || {} } };
    default:
      return null;
  }
}

/** The SSE text of one converted event (the legacy wrote it in two writes; same bytes). */
export function sseOf(e: ConvertedEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/** The legacy's error wording by AWS SDK error name. */
export function bedrockErrorMessage(err: unknown): string {
  const e = err as { name?: string; message?: string } | null;
  const message = e?.message || 'Unknown Bedrock error';
  switch (e?.name) {
    case 'ValidationException':
      return `Bedrock参数验证失败: ${message}`;
    case 'ThrottlingException':
      return 'Bedrock请求限流，请稍后重试';
    case 'AccessDeniedException':
      return 'Bedrock访问被拒绝，请检查IAM权限';
    case 'ModelNotReadyException':
      return 'Bedrock模型未就绪，请稍后重试';
    default:
      return `Bedrock服务错误: ${message}`;
  }
}
