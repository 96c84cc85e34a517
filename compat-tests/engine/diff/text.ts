import { tallyIgnored, type Difference } from '../report/model.js';
import { byteLen, difference, firstDivergence, ignoreByRule, type DiffContext } from './context.js';
import { jsonShape, type JsonLeaf } from './json-spans.js';
import { matchWithVariables } from './variables.js';

/**
 * Compare two texts at a location path. Equal bytes: nothing. Otherwise, in order: a noise rule
 * for the path; a JSON-aware comparison (leaf by leaf, key order, then the exact bytes around
 * the accepted values); an SSE-aware one (event by event); variables (ids bound one-to-one,
 * times within the window). What remains is reported with the first differing byte.
 */
export function compareText(ctx: DiffContext, path: string, expected: string, actual: string): Difference[] {
  if (expected === actual) return [];
  if (ignoreByRule(ctx, path, expected, actual)) return [];
  const json = compareJson(ctx, path, expected, actual);
  if (json) return json;
  const sse = compareSse(ctx, path, expected, actual);
  if (sse) return sse;
  const m = matchWithVariables(expected, actual, ctx.noise, ctx.binder, ctx.toleranceMs, ctx.timeShiftMs);
  if (m.equivalent) {
    for (const a of m.accepted) tallyIgnored(ctx.tally, `variable:${a.cls}`, a.bytes);
    return [];
  }
  const fd = firstDivergence(expected, actual);
  return [difference(path, 'changed', expected, actual, { byteOffset: fd.offset, context: fd.context })];
}

function replaceSpans(text: string, spans: Array<{ start: number; end: number; with: string }>): string {
  let out = text;
  for (const s of [...spans].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.with + out.slice(s.end);
  return out;
}

function compareJson(ctx: DiffContext, base: string, e: string, a: string): Difference[] | null {
  const se = jsonShape(e);
  const sa = jsonShape(a);
  if (!se || !sa) return null;
  const diffs: Difference[] = [];
  const spans: Array<{ start: number; end: number; with: string }> = [];
  const am = new Map<string, JsonLeaf>(sa.leaves.map((l) => [l.path, l]));
  const em = new Map<string, JsonLeaf>(se.leaves.map((l) => [l.path, l]));
  for (const le of se.leaves) {
    const path = base + le.path;
    const la = am.get(le.path);
    if (!la) {
      if (!ignoreByRule(ctx, path, le.raw)) diffs.push(difference(path, 'missing', le.raw, undefined));
      continue;
    }
    if (le.raw === la.raw) continue;
    if (ignoreByRule(ctx, path, le.raw, la.raw)) {
      spans.push({ start: le.start, end: le.end, with: la.raw });
      continue;
    }
    if (le.str !== undefined && la.str !== undefined) {
      const inner = compareText(ctx, path, le.str, la.str);
      if (inner.length === 0) spans.push({ start: le.start, end: le.end, with: la.raw });
      else diffs.push(...inner);
      continue;
    }
    const m = matchWithVariables(le.raw, la.raw, ctx.noise, ctx.binder, ctx.toleranceMs, ctx.timeShiftMs);
    if (m.equivalent) {
      for (const x of m.accepted) tallyIgnored(ctx.tally, `variable:${x.cls}`, x.bytes);
      spans.push({ start: le.start, end: le.end, with: la.raw });
      continue;
    }
    diffs.push(difference(path, 'changed', le.raw, la.raw));
  }
  for (const la of sa.leaves) {
    if (em.has(la.path)) continue;
    const path = base + la.path;
    if (!ignoreByRule(ctx, path, la.raw)) diffs.push(difference(path, 'extra', undefined, la.raw));
  }
  for (const [p, keys] of se.keyOrder) {
    const other = sa.keyOrder.get(p);
    if (!other) continue;
    const common = keys.filter((k) => other.includes(k));
    const otherCommon = other.filter((k) => keys.includes(k));
    if (common.join('\u0000') !== otherCommon.join('\u0000') && !ignoreByRule(ctx, `${base}${p}#order`, ''))
      diffs.push(difference(`${base}${p}#order`, 'order', keys.join(','), other.join(',')));
  }
  for (const [p, kind] of se.containers) {
    const other = sa.containers.get(p);
    if (other && other !== kind) diffs.push(difference(base + p, 'type', kind, other));
  }
  if (diffs.length === 0) {
    const rebuilt = replaceSpans(e, spans);
    if (rebuilt === a) return [];
    const fd = firstDivergence(rebuilt, a);
    return [
      difference(base, 'changed', e, a, {
        byteOffset: fd.offset,
        context: fd.context,
        detail: ['JSON values agree; the bytes between them differ (whitespace, escaping or number format)'],
      }),
    ];
  }
  const fd = firstDivergence(e, a);
  const first = diffs[0]!;
  if (first.byteOffset === undefined) {
    first.byteOffset = fd.offset;
    first.context = fd.context;
  }
  return diffs;
}

interface SseEvent {
  text: string;
  name: string;
  start: number;
}

export function looksLikeSse(text: string): boolean {
  return /^(event|data|id|retry):/.test(text) && text.includes('\n\n');
}

export function splitSse(text: string): SseEvent[] {
  const out: SseEvent[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\n\n', at);
    const stop = end < 0 ? text.length : end + 2;
    const block = text.slice(at, stop);
    const name = /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message';
    out.push({ text: block, name, start: at });
    at = stop;
  }
  return out;
}

/**
 * The events an SSE client dispatches: a final block without its blank line (a stream cut by a client
 * abort or a dropped connection) is never dispatched, so it is left out of the event comparison (and
 * tallied as ignored). How far such a tail got depends on when the socket closed, not on the code.
 */
function dispatchedEvents(ctx: DiffContext, text: string): SseEvent[] {
  const events = splitSse(text);
  const last = events.at(-1);
  if (last && !last.text.endsWith('\n\n')) {
    events.pop();
    tallyIgnored(ctx.tally, 'sse:undispatched-final-block', byteLen(last.text));
  }
  return events;
}

function compareSse(ctx: DiffContext, base: string, e: string, a: string): Difference[] | null {
  if (!looksLikeSse(e) || !looksLikeSse(a)) return null;
  const ee = dispatchedEvents(ctx, e);
  const ae = dispatchedEvents(ctx, a);
  const diffs: Difference[] = [];
  const n = Math.max(ee.length, ae.length);
  for (let i = 0; i < n; i++) {
    const x = ee[i];
    const y = ae[i];
    const path = `${base}#event[${i}]`;
    if (!x || !y) {
      if (!ignoreByRule(ctx, path, x?.text)) {
        diffs.push(difference(path, x ? 'missing' : 'extra', x?.text, y?.text, { detail: [`SSE event #${i} (${(x ?? y)!.name})`] }));
      }
      continue;
    }
    if (x.text === y.text) continue;
    const before = diffs.length;
    const xl = x.text.split('\n');
    const yl = y.text.split('\n');
    if (xl.length !== yl.length) {
      diffs.push(difference(path, 'changed', x.text, y.text));
    } else {
      for (let j = 0; j < xl.length; j++) {
        if (xl[j] === yl[j]) continue;
        const fx = /^([a-z]+): ?(.*)$/s.exec(xl[j]!);
        const fy = /^([a-z]+): ?(.*)$/s.exec(yl[j]!);
        if (fx && fy && fx[1] === fy[1] && xl[j]!.slice(0, xl[j]!.length - fx[2]!.length) === yl[j]!.slice(0, yl[j]!.length - fy[2]!.length)) {
          diffs.push(...compareText(ctx, fx[1] === 'data' ? path : `${path}.${fx[1]}`, fx[2]!, fy[2]!));
        } else diffs.push(difference(`${path}.line[${j}]`, 'changed', xl[j], yl[j]));
      }
    }
    const fd = firstDivergence(e, a);
    for (const d of diffs.slice(before)) {
      d.detail = [`SSE event #${i} (${x.name}${x.name !== y.name ? ` vs ${y.name}` : ''})`, ...(d.detail ?? [])];
      if (d.byteOffset === undefined && d === diffs[before]) {
        d.byteOffset = fd.offset;
        d.context = fd.context;
      }
    }
  }
  if (diffs.length === 0 && ee.length === ae.length) return [];
  return diffs.length ? diffs : [difference(base, 'changed', e, a, { ...firstDivergenceExtra(e, a) })];
}

function firstDivergenceExtra(e: string, a: string) {
  const fd = firstDivergence(e, a);
  return { byteOffset: fd.offset, context: fd.context };
}

/** Bodies: text when both are UTF-8, else base64 (with the byte offset from the raw bytes). */
export function compareBytes(ctx: DiffContext, path: string, expected: Buffer, actual: Buffer): Difference[] {
  if (expected.equals(actual)) return [];
  const et = expected.toString('utf8');
  const at = actual.toString('utf8');
  if (Buffer.from(et, 'utf8').equals(expected) && Buffer.from(at, 'utf8').equals(actual)) {
    const diffs = compareText(ctx, path, et, at);
    const first = diffs[0];
    if (first) {
      // the first difference carries the body-level first divergence (inner offsets are per value)
      const fd = firstDivergence(et, at);
      if (first.byteOffset !== undefined && first.byteOffset !== fd.offset) first.detail = [...(first.detail ?? []), `offset ${first.byteOffset} within the value`];
      first.byteOffset = fd.offset;
      first.context = fd.context;
    }
    // later differences keep their offset as a detail: "@byte" always means an offset in the whole body
    for (const d of diffs.slice(1)) {
      if (d.byteOffset === undefined) continue;
      d.detail = [...(d.detail ?? []), `offset ${d.byteOffset} within the value`];
      delete d.byteOffset;
    }
    return diffs;
  }
  if (ignoreByRule(ctx, path, et)) return [];
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  return [
    difference(path, 'changed', expected.toString('base64'), actual.toString('base64'), {
      byteOffset: i,
      context: { expected: expected.subarray(Math.max(0, i - 40), i + 40).toString('hex'), actual: actual.subarray(Math.max(0, i - 40), i + 40).toString('hex') },
      detail: ['binary body: values shown as base64, context as hex'],
    }),
  ];
}

export { byteLen };
