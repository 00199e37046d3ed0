/** Rows as rkt prints tables: each column its widest cell plus one, rounded up to a tab stop. */
export function tabulate(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  const stops = widths.map((w) => Math.ceil((w + 1) / 8) * 8);
  return rows
    .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c + '\t'.repeat(Math.ceil((stops[i]! - c.length) / 8)))).join('') + '\n')
    .join('');
}
