import * as v from 'valibot';

/**
 * Edge validation of a /v1/messages body, with the legacy's 400 answers in its order
 * (relay-claude.md §2.1 step 3). Everything else in the body is forwarded as sent.
 */
const IsObject = v.custom<Record<string, unknown>>((x) => typeof x === 'object' && x !== null, 'Request body must be a valid JSON object');

const MessagesBody = v.pipe(
  v.looseObject({
    messages: v.pipe(
      v.array(v.unknown(), 'Missing or invalid field: messages (must be an array)'),
      v.minLength(1, 'Messages array cannot be empty'),
    ),
  }),
);

export type MessagesBody = Record<string, unknown> & { messages: unknown[] };

export type BodyCheck = { ok: true; body: MessagesBody } | { ok: false; status: 400; body: { error: 'Invalid request'; message: string } };

export function checkMessagesBody(input: unknown): BodyCheck {
  const shape = v.safeParse(IsObject, input);
  if (!shape.success) return invalid(shape.issues[0].message);
  const r = v.safeParse(MessagesBody, input);
  if (!r.success) {
    const issue = r.issues[0];
    const message = issue.kind === 'validation' && issue.type === 'min_length' ? issue.message : 'Missing or invalid field: messages (must be an array)';
    return invalid(message);
  }
  return { ok: true, body: input as MessagesBody };
}

function invalid(message: string): BodyCheck {
  return { ok: false, status: 400, body: { error: 'Invalid request', message } };
}
