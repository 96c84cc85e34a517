import type { ShadowRecord } from '../results/record.js';
import type { RouteSummary } from '../results/store.js';

/** A self-contained HTML page of the shadow summary (no scripts, no external assets). */

const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

function routeRows(routes: RouteSummary[]): string {
  return routes
    .map(
      (r) =>
        `<tr><td>${esc(r.routeId)}</td><td>${r.compared}</td><td class="ok">${r.identical}</td><td class="${r.differing ? 'bad' : ''}">${r.differing}</td>` +
        `<td>${r.errors}</td><td>${r.dropped}</td><td>${r.sideEffects.identical}/${r.sideEffects.differing}/${r.sideEffects.notMeasured}</td><td>${r.upstreamNotAvailable}</td></tr>`,
    )
    .join('');
}

function side(label: string, bytes: Buffer | undefined, offset: number | undefined): string {
  if (!bytes) return `<div class="side"><h4>${label}</h4><pre>(none)</pre></div>`;
  const text = bytes.toString('utf8');
  if (offset === undefined || offset > bytes.length) return `<div class="side"><h4>${label}</h4><pre>${esc(text.slice(0, 4000))}</pre></div>`;
  const head = bytes.subarray(0, offset).toString('utf8');
  const tail = bytes.subarray(offset).toString('utf8');
  return `<div class="side"><h4>${label}</h4><pre>${esc(head.slice(-2000))}<mark>${esc(tail.slice(0, 1))}</mark>${esc(tail.slice(1, 2000))}</pre></div>`;
}

function differenceBlock(r: ShadowRecord): string {
  const first = r.differences[0];
  const body =
    r.detail && first?.path.startsWith('response.body') && !first.path.includes('#')
      ? `<div class="pair">${side('primary', r.detail.primaryResponse.body, first.byteOffset)}${side('candidate', r.detail.candidateResponse.body, first.byteOffset)}</div>`
      : '';
  const list = r.differences
    .slice(0, 12)
    .map((d) => `<li><code>${esc(d.where)}</code> ${esc(d.kind)}: ${esc(d.context?.expected ?? d.expected ?? '')} → ${esc(d.context?.actual ?? d.actual ?? '')}${d.detail ? ` <i>${esc(d.detail.join('; '))}</i>` : ''}</li>`)
    .join('');
  const se = `side effects: ${esc(r.sideEffects.status)}${r.sideEffects.status === 'not-measured' ? ` (${esc(r.sideEffects.reason)})` : ''}`;
  return `<section><h3>${esc(r.id)} · ${esc(r.routeId)} · ${esc(new Date(r.at).toISOString())}</h3>
<p class="bad">${esc(r.firstDivergence)}</p>${body}<ul>${list}</ul><p>${se}</p>
<p>save as a regression test: <code>npm run shadow -- save ${esc(r.id)} --suite shadow-captured</code></p></section>`;
}

export function renderShadowHtml(summary: Record<string, unknown>, differences: ShadowRecord[]): string {
  const routes = summary.routes as RouteSummary[];
  return `<!doctype html><html><head><meta charset="utf-8"><title>Gateway shadow</title><style>
body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
td:first-child{text-align:left}.ok{color:#070}.bad{color:#b00}.pair{display:flex;gap:1em}.side{flex:1;min-width:0}
pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;word-break:break-all;max-height:24em;overflow:auto}mark{background:#fc6}</style></head><body>
<h1>Shadow mode</h1>
<table><tr><th>route</th><th>compared</th><th>identical</th><th>differing</th><th>errors</th><th>dropped</th><th>side effects =/≠/?</th><th>upstream n/a</th></tr>${routeRows(routes)}</table>
<h2>Recent differences (${differences.length})</h2>${differences.map(differenceBlock).join('')}
</body></html>`;
}
