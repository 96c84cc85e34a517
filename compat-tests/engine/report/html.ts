import type { Difference, ExchangeResult, RunReport } from './model.js';
import { routeTable, totalsLine } from './console.js';

/** Self-contained HTML report: summary, per-route table, one section per exchange with differences. */

const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Text with the byte at `byteAt` (and the rest of its line) highlighted as the first divergence. */
function highlighted(text: string, byteAt: number | null): string {
  if (byteAt === null || byteAt < 0) return esc(text);
  const at = Buffer.from(text, 'utf8').subarray(0, byteAt).toString('utf8').length;
  if (at > text.length) return esc(text);
  const end = text.indexOf('\n', at);
  const stop = end < 0 ? text.length : end;
  return (
    esc(text.slice(0, at)) +
    `<mark class="first">${esc(text.slice(at, Math.max(stop, at + 1)))}</mark>` +
    esc(text.slice(Math.max(stop, at + 1)))
  );
}

function diffRow(d: Difference): string {
  const at = d.byteOffset !== undefined ? `<div class="off">first divergence at byte ${d.byteOffset}</div>` : '';
  const ctx = d.context
    ? `<div class="ctx"><pre>${esc(d.context.expected)}</pre><pre>${esc(d.context.actual)}</pre></div>`
    : '';
  const detail = d.detail?.length ? `<ul>${d.detail.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>` : '';
  const why = d.acceptedBecause ? `<div class="why">accepted: ${esc(d.acceptedBecause)}</div>` : '';
  return `<tr><td>${esc(d.area)}</td><td>${esc(d.kind)}</td><td><code>${esc(d.where)}</code>${at}${detail}${why}</td>
<td><pre>${esc(d.expected ?? '(none)')}</pre></td><td><pre>${esc(d.actual ?? '(none)')}</pre></td></tr>${ctx ? `<tr><td colspan="5">${ctx}</td></tr>` : ''}`;
}

function section(r: ExchangeResult): string {
  const rows = [...r.differences, ...r.deviations].map(diffRow).join('\n');
  const ignored = Object.entries(r.ignored.byRule)
    .map(([rule, t]) => `<li><code>${esc(rule)}</code>: ${t.count} values, ${t.bytes} bytes</li>`)
    .join('');
  const side = r.sideBySide
    ? `<h4>response body: recorded (left) vs replayed (right)</h4><div class="side"><pre>${highlighted(
        r.sideBySide.expected,
        r.sideBySide.firstDivergence,
      )}</pre><pre>${highlighted(r.sideBySide.actual, r.sideBySide.firstDivergence)}</pre></div>`
    : '';
  return `<section class="${r.outcome}" id="${esc(r.suite + '/' + r.exchange)}">
<h3>${esc(r.outcome)} — ${esc(r.suite)}/${esc(r.exchange)} <small>${esc(r.method)} ${esc(r.path)} · route ${esc(
    r.routeId ?? '-',
  )} · module ${esc(r.module ?? '-')}</small></h3>
${r.reason ? `<p>${esc(r.reason)}</p>` : ''}
${rows ? `<table class="diffs"><tr><th>area</th><th>kind</th><th>where</th><th>recorded</th><th>replayed</th></tr>${rows}</table>` : ''}
${ignored ? `<details><summary>ignored as noise: ${r.ignored.count} values, ${r.ignored.bytes} bytes</summary><ul>${ignored}</ul></details>` : ''}
${side}
</section>`;
}

export function renderHtml(report: RunReport): string {
  const interesting = report.results.filter((r) => r.outcome !== 'not-migrated');
  const list = report.results
    .map(
      (r) =>
        `<tr class="${r.outcome}"><td><a href="#${esc(r.suite + '/' + r.exchange)}">${esc(r.suite)}/${esc(r.exchange)}</a></td><td>${esc(
          r.outcome,
        )}</td><td>${esc(r.method)} ${esc(r.path)}</td><td>${esc(r.routeId ?? '-')}</td><td>${r.differences.length}</td><td>${
          r.ignored.count
        } / ${r.ignored.bytes} B</td></tr>`,
    )
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>compat report ${esc(report.startedAt)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}pre{white-space:pre-wrap;word-break:break-all;margin:0;font:12px ui-monospace,monospace}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
tr.differs td,section.differs h3{background:#fde2e2}tr.error td,section.error h3{background:#fbd}tr.identical td{background:#e6f6e6}
tr.deviation td,section.deviation h3{background:#fff4d6}tr.not-migrated td{color:#888}
.side{display:grid;grid-template-columns:1fr 1fr;gap:8px}.side pre{border:1px solid #ccc;padding:4px;max-height:30em;overflow:auto}
.ctx{display:grid;grid-template-columns:1fr 1fr;gap:8px}mark{background:#f66;color:#fff}.off{color:#a00}.why{color:#850}
</style></head><body>
<h1>Compatibility report</h1><p>${esc(totalsLine(report))}</p><p>${esc(report.routing)}</p>
<h2>Per route</h2><pre>${esc(routeTable(report.results))}</pre>
<h2>Exchanges</h2><table><tr><th>exchange</th><th>outcome</th><th>request</th><th>route</th><th>differences</th><th>ignored</th></tr>${list}</table>
<h2>Details</h2>${interesting.map(section).join('\n') || '<p>nothing replayed</p>'}
</body></html>
`;
}
