import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunReport } from './model.js';
import { renderHtml } from './html.js';

/** Write report.json and report.html (plus timestamped copies) under `dir`; returns the paths. */
export function writeReports(dir: string, report: RunReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'report.json');
  const html = join(dir, 'report.html');
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
