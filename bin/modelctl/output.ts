/**
 * How `modelctl` prints what the API answers: tables and lines for people (the default), or the
 * API's JSON for scripts (`-o json`, or `--json`).
 */
import { clean } from './common.js';

/** A header and rows as lines, each column as wide as its widest cell (the last one unpadded), two spaces apart. */
export function tableLines(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** {@link tableLines} as text, each cell's control characters shown as `?`, ending in a newline. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return `${tableLines(
    header,
    rows.map((row) => row.map(clean)),
  ).join('\n')}\n`;
}

/** Named fields as indented lines (`  name     value`), the names padded to the longest. */
export function fieldLines(fields: readonly (readonly [string, string])[], indent = '  '): string[] {
  const width = Math.max(0, ...fields.map(([name]) => name.length));
  return fields.map(([name, value]) => `${indent}${name.padEnd(width)}  ${clean(value)}`);
}

/** The API's JSON as `-o json` prints it: indented, one value, a newline after. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** A value in a table cell: numbers and words as they are, anything else as compact JSON, cut at `max` characters. */
export function cell(value: unknown, max = 60): string {
  const text = typeof value === 'string' ? value : value === undefined ? '-' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
