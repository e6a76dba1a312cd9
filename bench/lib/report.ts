/** Small formatting helpers shared by the benchmark scripts. */
import { loadavg } from "node:os";

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

/** Where a database URL points (host and port): never its user or password. */
export const redactedHost = (url: string): string => new URL(url).host;

/** The 1, 5 and 15 minute load averages, joined by `separator`. */
export const loadAverage = (separator = " "): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(separator);

// ─── the summary every script ends with ─────────────────────────────────────────────────────────────────────

export type SummaryRow = { figure: string; result: string; goal: string; verdict: string; note?: string };
/** One row per figure, printed by printSummary(). */
export const summary: SummaryRow[] = [];
/** What did not work; any makes the script exit non-zero. */
export const problems: string[] = [];

/** Records a problem (and prints it at once) unless `ok`; returns `ok`. */
export function check(ok: boolean, message: string): boolean {
  if (!ok) {
    problems.push(message);
    line(`  ✗ CHECK FAILED: ${message}`);
  }
  return ok;
}

export const verdict = (met: boolean) => (met ? "met" : "MISSED");

/**
 * Prints the summary table (with a last column of notes headed `notesHeader`, when given) and the problems;
 * returns the exit code: 1 when there were problems, else 0.
 */
export function printSummary(notesHeader?: string): number {
  if (summary.length)
    line(
      table(
        notesHeader === undefined
          ? [["Figure", "Result", "Goal", ""], ...summary.map((r) => [r.figure, r.result, r.goal, r.verdict])]
          : [
              ["Figure", "Result", "Goal", "", notesHeader],
              ...summary.map((r) => [r.figure, r.result, r.goal, r.verdict, r.note ?? ""]),
            ],
      ),
    );
  if (problems.length) {
    line(`\n${problems.length} problem(s) — the figures above may not mean what they say:`);
    for (const p of problems) line(`  - ${p.split("\n")[0]}`);
    return 1;
  }
  return 0;
}
