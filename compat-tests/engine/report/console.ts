import type { ExchangeResult, Outcome, RunReport } from './model.js';

const LABEL: Record<Outcome, string> = {
  identical: 'identical   ',
  differs: 'DIFFERS     ',
  deviation: 'deviation   ',
  'not-migrated': 'not migrated',
  error: 'ERROR       ',
};

/** One line per exchange, plus the first differences under a failing one. */
export function exchangeLine(r: ExchangeResult): string {
  const route = r.routeId ?? '-';
  const ignored = r.ignored.count ? ` (ignored ${r.ignored.count} values / ${r.ignored.bytes} B as noise)` : '';
  const why = r.outcome === 'not-migrated' || r.outcome === 'error' ? ` — ${r.reason ?? ''}` : '';
  const dev = r.deviations.length ? ` [${r.deviations.length} accepted deviation(s)]` : '';
  let line = `${LABEL[r.outcome]}  ${r.suite}/${r.exchange}  ${r.method} ${r.path}  route=${route}${why}${dev}${ignored}`;
  if (r.outcome === 'differs') {
    for (const d of r.differences.slice(0, 5)) {
      const at = d.byteOffset !== undefined ? ` @byte ${d.byteOffset}` : '';
      line += `\n      ${d.kind} ${d.where}${at}: expected ${short(d.expected)} got ${short(d.actual)}`;
      for (const x of d.detail ?? []) line += `\n        ${x}`;
    }
    if (r.differences.length > 5) line += `\n      ... ${r.differences.length - 5} more (see the HTML/JSON report)`;
  }
  if (r.outcome === 'deviation' || (r.outcome === 'differs' && r.deviations.length)) {
    const whys = [...new Set(r.deviations.map((d) => d.acceptedBecause ?? ''))];
    line += `\n      accepted: ${r.deviations.length} difference(s) at ${[...new Set(r.deviations.map((d) => d.path))].slice(0, 3).join(', ')}`;
    for (const w of whys) line += `\n        why: ${w}`;
  }
  return line;
}

function short(s: string | undefined): string {
  if (s === undefined) return '(none)';
  const j = JSON.stringify(s);
  return j.length > 90 ? j.slice(0, 87) + '..."' : j;
}

/** Per-route table: exchanges, identical, differing, deviations, not migrated, errors. */
export function routeTable(results: ExchangeResult[]): string {
  const rows = new Map<string, Record<Outcome | 'total', number>>();
  for (const r of results) {
    const key = r.routeId ?? '(no route)';
    const row = rows.get(key) ?? { total: 0, identical: 0, differs: 0, deviation: 0, 'not-migrated': 0, error: 0 };
    row.total++;
    row[r.outcome]++;
    rows.set(key, row);
  }
  const head = ['route', 'exchanges', 'identical', 'differing', 'deviation', 'not migrated', 'errors'];
  const body = [...rows.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, r]) => [k, r.total, r.identical, r.differs, r.deviation, r['not-migrated'], r.error].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

export function totalsLine(report: RunReport): string {
  const t = report.totals;
  return (
    `${report.results.length} exchanges: ${t.identical} identical, ${t.differs} differing, ${t.deviation} accepted deviation, ` +
    `${t['not-migrated']} not migrated, ${t.error} errors — ${report.failed ? 'FAIL' : 'ok'} (${(report.durationMs / 1000).toFixed(1)} s)`
  );
}
