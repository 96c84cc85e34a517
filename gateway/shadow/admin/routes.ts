import type { Hono } from 'hono';
import { encodeBytes } from '../../../compat-tests/engine/format/bytes.js';
import type { ShadowRecord } from '../results/record.js';
import type { ShadowResults } from '../results/store.js';
import { shadowRecordToExchange } from '../save/to-exchange.js';
import { renderShadowHtml } from './html.js';

/**
 * Admin endpoints (admin port only):
 *   GET /gateway/shadow                          per-route summary + recent differences (JSON; HTML with
 *                                                Accept: text/html or ?format=html)
 *   GET /gateway/shadow/differences/:id          one difference with every byte (bodies as utf8/base64)
 *   GET /gateway/shadow/differences/:id/exchange the difference as a compat exchange (what shadow-save writes)
 */

export interface ShadowStatus {
  results: ShadowResults;
  /** Extra facts for the summary (taps, sandbox, settings). */
  describe(): Record<string, unknown>;
  timezoneOffsetHours: number;
}

/** JSON-safe view of a record: Buffers become {utf8}|{base64}. */
export function recordJson(r: ShadowRecord, withDetail: boolean): unknown {
  const { detail, ...head } = r;
  if (!withDetail || !detail) return head;
  return JSON.parse(
    JSON.stringify({ ...head, detail }, (_k, v: unknown) => {
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return encodeBytes(Buffer.from((v as { data: number[] }).data));
      }
      return v;
    }),
  );
}

export function summaryJson(s: ShadowStatus): Record<string, unknown> {
  return {
    routes: s.results.routes(),
    differences: s.results.differences().map((r) => recordJson(r, false)),
    ...s.describe(),
  };
}

export function shadowAdminRoutes(s: ShadowStatus): (app: Hono) => void {
  return (app) => {
    app.get('/gateway/shadow', (c) => {
      const wantsHtml = c.req.query('format') === 'html' || (c.req.header('accept') ?? '').includes('text/html');
      if (wantsHtml) return c.html(renderShadowHtml(summaryJson(s), s.results.differences()));
      return c.json(summaryJson(s));
    });
    app.get('/gateway/shadow/differences/:id', (c) => {
      const r = s.results.get(c.req.param('id'));
      if (!r) return c.json({ error: 'Not Found', message: `no stored shadow difference ${c.req.param('id')}` }, 404);
      return c.json(recordJson(r, true) as Record<string, unknown>);
    });
    app.get('/gateway/shadow/differences/:id/exchange', (c) => {
      const r = s.results.get(c.req.param('id'));
      if (!r) return c.json({ error: 'Not Found', message: `no stored shadow difference ${c.req.param('id')}` }, 404);
      try {
        return c.json(shadowRecordToExchange(r, c.req.query('name') ?? undefined, s.timezoneOffsetHours) as unknown as Record<string, unknown>);
      } catch (err) {
        return c.json({ error: 'Conflict', message: (err as Error).message }, 409);
      }
    });
  };
}
