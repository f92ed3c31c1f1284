import { jsonReplacer } from './reporter.ts';
import { terminalCell } from './terminal-text.ts';

/**
 * Rows as an aligned text table (columns from the first row), values cut at `maxWidth`. Values and
 * column names come from the warehouse (hostile until shown otherwise): escape sequences and control
 * characters are removed and line breaks shown as `\n`, so no value can repaint the terminal or break
 * the table.
 */
export function formatRows(rows: readonly Record<string, unknown>[], maxWidth = 40): string {
  if (rows.length === 0) return '(no rows)';
  const keys = Object.keys(rows[0] ?? {});
  const columns = keys.map((k) => terminalCell(k));
  const cell = (v: unknown): string => {
    const text = terminalCell(
      v === null || v === undefined
        ? ''
        : typeof v === 'object'
          ? JSON.stringify(v, jsonReplacer)
          : String(v),
    );
    return text.length > maxWidth ? `${text.slice(0, maxWidth - 1)}…` : text;
  };
  const body = rows.map((r) => keys.map((c) => cell(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
