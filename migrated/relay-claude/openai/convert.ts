/**
 * OpenAI Chat Completions ⇄ Claude Messages conversion of the legacy's /openai/claude route
 * (relay-openai-gemini-bedrock.md §A.3–§A.5). Key orders are the legacy's.
 */
type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export const CLAUDE_CODE_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude.";

const STOP_REASONS: Record<string, string> = { end_turn: 'stop', max_tokens: 'length', stop_sequence: 'stop', tool_use: 'tool_calls' };
export const mapStopReason = (reason: unknown): string => (typeof reason === 'string' && STOP_REASONS[reason]) || 'stop';

function convertContentParts(parts: unknown[]): unknown[] {
  return parts.map((item) => {
    if (!isObject(item)) return item;
    if (item['type'] === 'text') return { type: 'text', text: item['text'] };
    if (item['type'] === 'image_url') {
      const url = String((item['image_url'] as Json | undefined)?.['url'] ?? '');
      if (!url.startsWith('data:')) {
        throw new Error('Claude API only supports base64 encoded images, not URLs. Please convert the image to base64 format.');
      }
      const m = /^data:([^;]+);base64,(.+)$/.exec(url);
      if (m) return { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } };
      return { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: url.split(',')[1] || '' } };
    }
    return item;
  });
}

function convertMessages(messages: unknown[]): Json[] {
  const out: Json[] = [];
  for (const raw of messages) {
    const msg = (raw ?? {}) as Json;
    if (msg['role'] === 'system') continue;
    const rawContent = msg['content'];
    let content: unknown;
    if (typeof rawContent === 'string') content = rawContent;
    else if (Array.isArray(rawContent)) content = convertContentParts(rawContent);
    else content = JSON.stringify(rawContent);
    const converted: Json = { role: msg['role'] === 'user' ? 'user' : 'assistant', content };
    if (msg['tool_calls']) {
      converted['content'] = (msg['tool_calls'] as Json[]).map((tc) => ({
        type: 'tool_use',
        id: tc['id'],
        name: (tc['function'] as Json)['name'],
        input: JSON.parse(String((tc['function'] as Json)['arguments'])) as unknown,
      }));
    }
    if (msg['role'] === 'tool') {
      converted['role'] = 'user';
      converted['content'] = [{ type: 'tool_result', tool_use_id: msg['tool_call_id'], content: msg['content'] }];
    }
    out.push(converted);
  }
  return out;
}

function convertToolChoice(choice: unknown): Json {
  if (choice === 'none') return { type: 'none' };
  if (choice === 'auto') return { type: 'auto' };
  if (choice === 'required') return { type: 'any' };
  if (isObject(choice) && choice['type'] === 'function') return { type: 'tool', name: (choice['function'] as Json)['name'] };
  return { type: 'auto' };
}

/** convertRequest: throws like the legacy for a missing `messages` ("is not iterable") or a URL image. */
export function convertRequest(body: Json): Json {
  const messages = body['messages'];
  if (!Array.isArray(messages)) throw new TypeError('messages is not iterable');
  const out: Json = {
    model: body['model'],
    messages: convertMessages(messages),
    max_tokens: body['max_tokens'] || 4096,
    temperature: body['temperature'],
    top_p: body['top_p'],
    stream: body['stream'] || false,
  };
  const systems = messages.filter((m) => isObject(m) && m['role'] === 'system').map((m) => String((m as Json)['content']));
  const system = systems.length ? systems.join('\n\n') : null;
  out['system'] = system && system.includes('You are currently in Xcode') ? system : CLAUDE_CODE_SYSTEM;
  if (body['stop']) out['stop_sequences'] = Array.isArray(body['stop']) ? body['stop'] : [body['stop']];
  if (body['tools']) {
    out['tools'] = (body['tools'] as unknown[]).map((t) => {
      const tool = t as Json;
      if (tool['type'] !== 'function') return tool;
      const fn = tool['function'] as Json;
      return { name: fn['name'], description: fn['description'], input_schema: fn['parameters'] };
    });
    if (body['tool_choice']) out['tool_choice'] = convertToolChoice(body['tool_choice']);
  }
  // undefined values vanish on serialisation, exactly like JSON.stringify in the legacy
  return JSON.parse(JSON.stringify(out)) as Json;
}

export function convertUsage(usage: unknown): Json | undefined {
  if (!isObject(usage)) return undefined;
  const input = (usage['input_tokens'] as number) || 0;
  const output = (usage['output_tokens'] as number) || 0;
  return { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
}

/** convertResponse (non-stream). */
export function convertResponse(claude: Json, requestModel: unknown, id: string, nowSeconds: number): Json {
  const message: Json = { role: 'assistant', content: null };
  const content = claude['content'];
  if (typeof content === 'string') message['content'] = content;
  else if (Array.isArray(content)) {
    const texts: unknown[] = [];
    const calls: Json[] = [];
    for (const item of content as Json[]) {
      if (item['type'] === 'text') texts.push(item['text']);
      else if (item['type'] === 'tool_use') calls.push({ id: item['id'], type: 'function', function: { name: item['name'], arguments: JSON.stringify(item['input']) } });
    }
    message['content'] = texts.join('') || null;
    if (calls.length) message['tool_calls'] = calls;
  }
  return {
    id,
    object: 'chat.completion',
    created: nowSeconds,
    model: requestModel || 'gpt-4',
    choices: [{ index: 0, message, finish_reason: mapStopReason(claude['stop_reason']) }],
    usage: convertUsage(claude['usage']),
  };
}

/** convertStreamChunk: one batch of complete upstream lines → OpenAI chunks (possibly ''). */
export function convertStreamBatch(batch: string, requestModel: unknown, id: string, nowSeconds: () => number): string {
  if (!batch || batch.trim() === '') return '';
  const out: string[] = [];
  let stop = false;
  for (const line of batch.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    const data = line.slice(6);
    if (data === '[DONE]') {
      out.push('data: [DONE]\n\n');
      continue;
    }
    let event: Json;
    try {
      event = JSON.parse(data) as Json;
    } catch {
      continue;
    }
    if (event['type'] === 'message_stop') stop = true;
    const chunk = convertEvent(event, requestModel, id, nowSeconds());
    if (chunk) out.push(`data: ${JSON.stringify(chunk)}\n\n`);
  }
  if (stop) out.push('data: [DONE]\n\n');
  return out.join('');
}

function convertEvent(event: Json, requestModel: unknown, id: string, created: number): Json | null {
  const delta: Json = {};
  const choice: Json = { index: 0, delta, finish_reason: null };
  const chunk: Json = { id, object: 'chat.completion.chunk', created, model: requestModel || 'gpt-4', choices: [choice] };
  const type = event['type'];
  if (type === 'message_start') {
    delta['role'] = 'assistant';
    return chunk;
  }
  if (type === 'content_block_start' && event['content_block']) {
    const block = event['content_block'] as Json;
    if (block['type'] === 'text') delta['content'] = block['text'] || '';
    else if (block['type'] === 'tool_use') {
      delta['tool_calls'] = [{ index: event['index'] || 0, id: block['id'], type: 'function', function: { name: block['name'], arguments: '' } }];
    }
    return chunk;
  }
  if (type === 'content_block_delta' && event['delta']) {
    const d = event['delta'] as Json;
    if (d['type'] === 'text_delta') delta['content'] = d['text'] || '';
    else if (d['type'] === 'input_json_delta') delta['tool_calls'] = [{ index: event['index'] || 0, function: { arguments: d['partial_json'] || '' } }];
    return chunk;
  }
  if (type === 'message_delta' && event['delta']) {
    const d = event['delta'] as Json;
    if (d['stop_reason']) choice['finish_reason'] = mapStopReason(d['stop_reason']);
    if (event['usage']) chunk['usage'] = convertUsage(event['usage']);
    return chunk;
  }
  return null;
}
