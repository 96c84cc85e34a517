/**
 * Stable, reviewable formatting of routing-table.json: top-level fields pretty-printed, one route per
 * line, so a flip changes exactly one line in `git diff`.
 */
export function formatTable(table: Record<string, unknown>): string {
  const lines: string[] = ['{'];
  const keys = Object.keys(table);
  keys.forEach((key, i) => {
    const comma = i < keys.length - 1 ? ',' : '';
    const value = table[key];
    if (key === 'routes' && Array.isArray(value)) {
      lines.push(`  "routes": [`);
      value.forEach((r, j) => lines.push(`    ${JSON.stringify(r)}${j < value.length - 1 ? ',' : ''}`));
      lines.push(`  ]${comma}`);
    } else lines.push(`  ${JSON.stringify(key)}: ${JSON.stringify(value)}${comma}`);
  });
  lines.push('}');
  return lines.join('\n') + '\n';
}
