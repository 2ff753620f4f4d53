/** Visible width: colour codes take no room on the terminal. */
// eslint-disable-next-line no-control-regex -- the ESC of an ANSI colour code is what is matched
const width = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/** Rows as aligned lines, as kubectl prints them: columns padded to the widest cell, two-space gaps. */
export function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, width(cell))));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell))))
      .join('  ')
      .trimEnd(),
  );
}

/** A table with upper-case headers, ending in a newline. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return `${columns([headers, ...rows]).join('\n')}\n`;
}
