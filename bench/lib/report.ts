/** Small formatting helpers shared by the benchmark scripts. */

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export const ms = (value: number): string => `${Math.round(value)} ms`;
export const seconds = (value: number): string => `${value.toFixed(2)} s`;
export const mib = (bytes: number | undefined): string =>
  bytes === undefined ? "n/a" : `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
export const int = (value: number): string => Math.round(value).toLocaleString("en-US");

export const heading = (title: string): void =>
  console.log(`\n━━ ${title} ${"━".repeat(Math.max(3, 76 - title.length))}`);
export const line = (text = ""): void => console.log(text);
/** An indented "label  value" line. */
export const kv = (label: string, value: string): void => console.log(`  ${label.padEnd(34)} ${value}`);

/** A plain-text table; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const render = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const [head, ...body] = rows;
  return [render(head ?? []), widths.map((w) => "─".repeat(w)).join("  "), ...body.map(render)].join("\n");
}
