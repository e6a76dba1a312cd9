/** k6 duration syntax: `1h2m3s`, `1.5s`, `300ms`, `10us`; a bare number is milliseconds (as in k6 options). */
const UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 0.001,
  µs: 0.001,
  ns: 1e-6,
};

export function parseDuration(value: unknown, what = "duration"): number {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
  if (typeof value !== "string" || value.trim() === "")
    throw new Error(`${what}: not a duration: ${String(value)}`);
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const parts = text.matchAll(/(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g);
  let total = 0;
  let consumed = 0;
  for (const [whole, amount, unit] of parts) {
    total += Number(amount) * (UNIT_MS[unit as string] as number);
    consumed += whole.length;
  }
  if (consumed !== text.length) throw new Error(`${what}: not a k6 duration: ${JSON.stringify(value)}`);
  return total;
}

/** Short human form for the summary table: 412ms, 1.2s, 2m3s. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}
