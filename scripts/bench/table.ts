/** A plain-text table: a header row, a rule, right-aligned numbers, left-aligned text. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], note?: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_h, i) => rows.length > 0 && rows.every((r) => /^[\d.,x%~<>≤-]+( ?[a-zA-Z%]+)?$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  if (note) out.push(note);
  return out.join('\n');
}
