import { hash } from 'node:crypto';

/**
 * Sticky-session hash of a Claude-format request body, as the legacy computes it
 * (scheduling.md §3): a `session_<uuid>` capture of metadata.user_id is returned verbatim,
 * otherwise the first 32 hex chars of sha256 over the cacheable text, the system text or the
 * first message's text; null when none of them has text.
 */
export function sessionHashOf(body: unknown): string | null {
  if (!isObject(body)) return null;
  const metadata = body['metadata'];
  const userId = isObject(metadata) ? metadata['user_id'] : undefined;
  if (userId) {
    if (typeof userId !== 'string') throw new TypeError('userIdString.match is not a function');
    const m = /session_([a-f0-9-]{36})/.exec(userId);
    if (m) return m[1]!;
  }

  let cacheable = '';
  const system = body['system'];
  const messages = Array.isArray(body['messages']) ? (body['messages'] as unknown[]) : [];
  if (Array.isArray(system)) {
    for (const part of system) {
      if (isObject(part) && isEphemeral(part['cache_control'])) cacheable += textOr(part['text']);
    }
  }
  for (const message of messages) {
    if (hasCacheControl(message)) {
      for (const candidate of messages) {
        const text = messageText(candidate);
        if (text) {
          cacheable += text;
          break;
        }
      }
      break;
    }
  }
  if (cacheable) return sha32(cacheable);

  if (system) {
    let text = '';
    if (typeof system === 'string') text = system;
    else if (Array.isArray(system)) for (const part of system) text += isObject(part) ? textOr(part['text']) : '';
    if (text) return sha32(text);
  }

  const first = messages[0];
  if (first !== undefined) {
    const text = messageText(first);
    if (text) return sha32(text);
  }
  return null;
}

function sha32(text: string): string {
  return hash('sha256', text, 'hex').slice(0, 32);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isEphemeral(cc: unknown): boolean {
  return isObject(cc) && cc['type'] === 'ephemeral';
}

function textOr(value: unknown): string {
  return typeof value === 'string' ? value : value ? String(value) : '';
}

function hasCacheControl(message: unknown): boolean {
  if (!isObject(message)) return false;
  const content = message['content'];
  if (Array.isArray(content)) return content.some((p) => isObject(p) && isEphemeral(p['cache_control']));
  if (typeof content === 'string') return isEphemeral(message['cache_control']);
  return false;
}

function messageText(message: unknown): string {
  if (!isObject(message)) return '';
  const content = message['content'];
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let text = '';
    for (const p of content) if (isObject(p) && p['type'] === 'text') text += textOr(p['text']);
    return text;
  }
  return '';
}
