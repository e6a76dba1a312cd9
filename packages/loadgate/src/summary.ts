/**
 * The summary in k6's `--summary-export` shape (k6 js/summary-wrapper.js, oldJSONSummary):
 *   metrics.<name>            trend: the summaryTrendStats (default avg, min, med, max, p(90), p(95));
 *                             rate: passes (non-zero samples), fails, value; counter: count, rate; gauge: value, min, max
 *   metrics.<name>.thresholds { "<expression>": <bool> } where TRUE MEANS THE THRESHOLD FAILED (k6 #1498)
 *   metrics["name{tag:v}"]    sub-metrics that thresholds select
 *   root_group                { name, path, id, groups: { <name>: group }, checks: { <name>: { name, path, id, passes, fails } } }
 * Fig adds a `fig` section (see FigSection) with the verdict and the numbers behind it.
 */
import type { GroupNode, RequestStats } from "./context.ts";
import { formatDuration } from "./duration.ts";
import {
  CounterSink,
  GaugeSink,
  type Metric,
  type MetricRegistry,
  RateSink,
  type Sink,
  TrendSink,
} from "./metrics.ts";
import type { ThresholdOutcome, Verdict } from "./thresholds.ts";

export const DEFAULT_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"] as const;

export type SummaryMetric = Record<string, number | Record<string, boolean>>;
export type SummaryGroup = {
  name: string;
  path: string;
  id: string;
  groups: Record<string, SummaryGroup>;
  checks: Record<string, { name: string; path: string; id: string; passes: number; fails: number }>;
};

export type Numbers = {
  /** http_req_duration p(95) in ms, null without requests. */
  p95: number | null;
  /** http_req_failed rate (0..1), null without requests. */
  errorRate: number | null;
  requests: number;
};

export type FigSection = {
  engine: "builtin" | "k6";
  script: string;
  verdict: Verdict;
  exitCode: number;
  startedAt: string;
  durationMs: number;
  /** Why the run stopped early: a threshold with abortOnFail, or an external stop. */
  aborted: string | null;
  numbers: Numbers;
  /** thresholds[metricKey][expression]: ok (passed on data), inconclusive (no samples), value, samples. */
  thresholds: Record<
    string,
    Record<string, { ok: boolean; inconclusive: boolean; value: number | null; samples: number }>
  >;
  iterationErrors: number;
  /** Answers by request name (k6's `name` tag) and status, with the first 401/403's problem detail. */
  requests?: Record<string, RequestStats>;
  /** Request names refused (401/403) all or mostly, in plain words: a gate that never reached the code. */
  refusals?: string[];
  /** What the engine could not measure or did differently from k6, so readers do not over-trust a number. */
  notes: string[];
};

export type SummaryExport = {
  root_group: SummaryGroup;
  metrics: Record<string, SummaryMetric>;
  fig?: FigSection;
};

function trendValue(sink: TrendSink, stat: string): number | undefined {
  switch (stat) {
    case "avg":
      return sink.avg;
    case "min":
      return sink.min;
    case "max":
      return sink.max;
    case "med":
      return sink.med;
    case "count":
      return sink.count;
    default: {
      const m = /^p\((\d+(?:\.\d+)?)\)$/.exec(stat);
      return m ? sink.percentile(Number(m[1])) : undefined;
    }
  }
}

export function sinkValues(sink: Sink, elapsedSeconds: number, trendStats: readonly string[]): SummaryMetric {
  if (sink instanceof TrendSink) {
    const out: SummaryMetric = {};
    for (const stat of trendStats) {
      const v = trendValue(sink, stat);
      if (v !== undefined) out[stat] = v;
    }
    return out;
  }
  if (sink instanceof RateSink)
    return { passes: sink.trues, fails: sink.count - sink.trues, value: sink.rate };
  if (sink instanceof CounterSink)
    return { count: sink.sum, rate: sink.sum / Math.max(elapsedSeconds, 1e-9) };
  if (sink instanceof GaugeSink) return { value: sink.value, min: sink.min, max: sink.max };
  return {};
}

export function groupToSummary(node: GroupNode): SummaryGroup {
  return {
    name: node.name,
    path: node.path,
    id: node.id,
    groups: Object.fromEntries([...node.groups].map(([k, g]) => [k, groupToSummary(g)])),
    checks: Object.fromEntries([...node.checks].map(([k, c]) => [k, { ...c }])),
  };
}

/** The k6-shaped metrics: every metric with samples, plus every metric or sub-metric a threshold names. */
export function metricsToSummary(
  registry: MetricRegistry,
  outcomes: ThresholdOutcome[],
  elapsedSeconds: number,
  trendStats: readonly string[],
): Record<string, SummaryMetric> {
  const byKey = new Map<string, ThresholdOutcome[]>();
  for (const o of outcomes) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
  const out: Record<string, SummaryMetric> = {};
  const put = (key: string, sink: Sink) => {
    const thresholds = byKey.get(key);
    if (sink.count === 0 && !thresholds) return;
    const entry = sinkValues(sink, elapsedSeconds, trendStats);
    // k6's inverted flag: true = failed. An inconclusive threshold did not pass, so it is true too.
    if (thresholds) entry.thresholds = Object.fromEntries(thresholds.map((o) => [o.expression, !o.ok]));
    out[key] = entry;
  };
  const metrics = [...registry.metrics.values()].sort((a: Metric, b: Metric) => a.name.localeCompare(b.name));
  for (const metric of metrics) {
    put(metric.name, metric.sink);
    for (const sub of metric.submetrics) put(sub.key, sub.sink);
  }
  return out;
}

export function figThresholds(outcomes: ThresholdOutcome[]): FigSection["thresholds"] {
  const out: FigSection["thresholds"] = {};
  for (const o of outcomes) {
    out[o.key] ??= {};
    (out[o.key] as Record<string, unknown>)[o.expression] = {
      ok: o.ok,
      inconclusive: o.inconclusive,
      value: o.value,
      samples: o.samples,
    };
  }
  return out;
}

/**
 * Plain words for request names whose answers were mostly (or all) 401/403: such a gate measured the auth
 * check, not the journey, and a threshold line alone does not say why.
 *
 * @example
 * refusalsOf({ "upload-file": { statuses: { "403": 12 }, refused: { status: 403, detail: "Requires role editor…" } } });
 * // ["every upload-file request was refused 403 (Requires role editor…)"]
 */
export function refusalsOf(requests: Record<string, RequestStats> | undefined): string[] {
  const out: string[] = [];
  for (const [name, stats] of Object.entries(requests ?? {})) {
    const total = Object.values(stats.statuses).reduce((a, b) => a + b, 0);
    const refused = (stats.statuses["401"] ?? 0) + (stats.statuses["403"] ?? 0);
    if (total === 0 || refused * 2 <= total || !stats.refused) continue;
    const codes = ["401", "403"].filter((c) => (stats.statuses[c] ?? 0) > 0).join("/");
    const why = stats.refused.detail ? ` (${stats.refused.detail})` : "";
    out.push(
      refused === total
        ? `every ${name} request was refused ${codes}${why}`
        : `${refused} of ${total} ${name} requests were refused ${codes}${why}`,
    );
  }
  return out;
}

// ─── the readable table ─────────────────────────────────────────────────────────────────────────────────────

function formatStat(key: string, value: number, contains: "time" | "data" | "default" | "rate"): string {
  if (contains === "time") return `${key}=${formatDuration(value)}`;
  if (contains === "rate") return `${key}=${(value * 100).toFixed(2)}%`;
  return `${key}=${Number.isInteger(value) ? value : value.toFixed(3)}`;
}

function thresholdValueText(key: string, o: ThresholdOutcome, timeMetric: boolean): string {
  if (o.value === null) return "no data";
  const method = o.expression.split(/<=|<|>=|>|===|==|!=/)[0]?.trim() ?? "";
  if (timeMetric && method !== "count" && method !== "rate") return `${method}=${formatDuration(o.value)}`;
  if (method === "rate" && !key.startsWith("http_reqs")) return `${method}=${(o.value * 100).toFixed(2)}%`;
  return `${method}=${Number.isInteger(o.value) ? o.value : o.value.toFixed(3)}`;
}

const TIME_METRICS = /^(http_req_duration|iteration_duration|group_duration)/;

export function formatSummary(summary: SummaryExport, timeMetrics: Set<string> = new Set()): string {
  const fig = summary.fig;
  const lines: string[] = [];
  const isTime = (key: string) => TIME_METRICS.test(key) || timeMetrics.has(key.split("{")[0] ?? key);
  if (fig) {
    lines.push(
      `  engine: ${fig.engine === "k6" ? "k6 (real)" : "builtin (Bun; k6-compatible subset)"}   script: ${fig.script}   ` +
        `duration: ${formatDuration(fig.durationMs)}${fig.aborted ? `   aborted: ${fig.aborted}` : ""}`,
      "",
      "  THRESHOLDS",
    );
    const entries = Object.entries(fig.thresholds);
    if (entries.length === 0) lines.push("    (none: nothing decides this gate, so it is inconclusive)");
    for (const [key, exprs] of entries) {
      lines.push(`    ${key}`);
      for (const [expression, r] of Object.entries(exprs)) {
        const mark = r.inconclusive ? "?" : r.ok ? "✓" : "✗";
        const o = { key, expression, abortOnFail: false, ...r };
        lines.push(
          `      ${mark} '${expression}' ${thresholdValueText(key, o, isTime(key))}   (${r.samples} samples)`,
        );
      }
    }
    lines.push("");
  }
  lines.push("  METRICS");
  const width = Math.min(48, Math.max(...Object.keys(summary.metrics).map((k) => k.length), 10) + 2);
  for (const [key, entry] of Object.entries(summary.metrics)) {
    const stats = Object.entries(entry).filter((e): e is [string, number] => typeof e[1] === "number");
    let text: string;
    const noData = fig && Object.values(fig.thresholds[key] ?? {}).some((r) => r.samples === 0);
    if (noData) text = "no data";
    else if ("passes" in entry && "fails" in entry)
      text = `${formatStat("rate", entry.value as number, "rate")}  ✓ ${entry.passes}  ✗ ${entry.fails}`;
    else if ("count" in entry && "rate" in entry && !("avg" in entry))
      text = `${entry.count}  ${(entry.rate as number).toFixed(2)}/s`;
    else text = stats.map(([k, v]) => formatStat(k, v, isTime(key) ? "time" : "default")).join(" ");
    lines.push(`    ${`${key}`.padEnd(width, ".")}: ${text}`);
  }
  if (fig) {
    if (fig.iterationErrors > 0) lines.push("", `  ${fig.iterationErrors} iteration(s) threw (see stderr)`);
    if (fig.refusals?.length) lines.push("", ...fig.refusals.map((r) => `  REFUSED: ${r}`));
    const n = fig.numbers;
    lines.push(
      "",
      `  VERDICT: ${fig.verdict.toUpperCase()} (exit ${fig.exitCode})   p95 ${n.p95 === null ? "n/a" : formatDuration(n.p95)}` +
        `   errors ${n.errorRate === null ? "n/a" : `${(n.errorRate * 100).toFixed(2)}%`}   requests ${n.requests}`,
    );
  }
  return lines.join("\n");
}
