/**
 * The real k6, when it is on PATH: `k6 run --summary-export <file>` with BASE_URL/TOKEN/PIN as `-e`, then the
 * same verdict as the builtin engine from k6's own summary. To tell "no data" from a pass, trends get `count` in
 * `--summary-trend-stats`, rates carry passes + fails, and the script's thresholds are read from its options
 * (init code only, under the builtin modules) so a threshold whose metric k6 left out of the summary is
 * inconclusive rather than missing. Live progress comes from `--out json=<file>`, tailed once a second.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EngineResult, type EngineRun, loadScriptOptions } from "./builtin.ts";
import type { RequestStats } from "./context.ts";
import { RateSink, TrendSink } from "./metrics.ts";
import type { Numbers, SummaryExport, SummaryMetric } from "./summary.ts";
import { parseThresholds, type ThresholdOutcome } from "./thresholds.ts";

export const K6_TREND_STATS = "avg,min,med,max,p(90),p(95),p(99),count";

function lhsFromEntry(entry: SummaryMetric, expression: string, isRate: boolean): number | null {
  const method = expression.split(/<=|<|>=|>|===|==|!=/)[0]?.trim() ?? "";
  const key = method === "rate" && isRate ? "value" : method;
  const value = entry[key];
  return typeof value === "number" ? value : null;
}

function samplesOf(entry: SummaryMetric | undefined): number {
  if (!entry) return 0;
  if (typeof entry.passes === "number" && typeof entry.fails === "number") return entry.passes + entry.fails;
  if (typeof entry.count === "number") return entry.count;
  // A gauge in the summary has been set at least once.
  return typeof entry.value === "number" ? 1 : 0;
}

/**
 * Outcomes from a k6 summary export. `thresholdKeys` are the script's (metric key → expressions); the
 * summary's inverted booleans say failed (true) or passed (false); zero samples is inconclusive either way.
 */
export function outcomesFromK6Summary(
  summary: SummaryExport,
  thresholdKeys: { key: string; expression: string; abortOnFail: boolean }[],
): ThresholdOutcome[] {
  return thresholdKeys.map(({ key, expression, abortOnFail }) => {
    const entry = summary.metrics[key];
    const samples = samplesOf(entry);
    const failedFlag = (entry?.thresholds as Record<string, boolean> | undefined)?.[expression];
    if (!entry || samples === 0)
      return { key, expression, ok: false, inconclusive: true, value: null, samples: 0, abortOnFail };
    const isRate = typeof entry.passes === "number";
    return {
      key,
      expression,
      ok: failedFlag === false,
      inconclusive: false,
      value: lhsFromEntry(entry, expression, isRate),
      samples,
      abortOnFail,
    };
  });
}

export function numbersFromK6Summary(summary: SummaryExport): Numbers {
  const d = summary.metrics.http_req_duration;
  const f = summary.metrics.http_req_failed;
  const r = summary.metrics.http_reqs;
  return {
    p95: typeof d?.["p(95)"] === "number" ? (d["p(95)"] as number) : null,
    errorRate: typeof f?.value === "number" ? (f.value as number) : null,
    requests: typeof r?.count === "number" ? (r.count as number) : 0,
  };
}

export async function runK6(
  opts: EngineRun & { k6Path: string; forwardEnv: Record<string, string> },
): Promise<EngineResult> {
  const { options } = await loadScriptOptions(opts.script, opts.env);
  const thresholdKeys = parseThresholds(options.thresholds).map((d) => ({
    key: d.key,
    expression: d.expression.source,
    abortOnFail: d.abortOnFail,
  }));
  const dir = await mkdtemp(join(tmpdir(), "fig-loadgate-k6-"));
  const summaryPath = join(dir, "summary.json");
  const pointsPath = join(dir, "points.json");
  const args = [
    opts.k6Path,
    "run",
    "--summary-export",
    summaryPath,
    "--summary-trend-stats",
    K6_TREND_STATS,
    "--out",
    `json=${pointsPath}`,
    ...Object.entries(opts.forwardEnv).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
    ...(opts.overrides?.vus !== undefined ? ["--vus", String(opts.overrides.vus)] : []),
    ...(opts.overrides?.duration !== undefined ? ["--duration", opts.overrides.duration] : []),
    opts.script,
  ];
  const started = performance.now();
  const child = Bun.spawn(args, { stdout: "inherit", stderr: "inherit", stdin: "ignore" });
  const onAbort = () => child.kill("SIGINT");
  opts.signal?.addEventListener("abort", onAbort, { once: true });

  // Live numbers from k6's JSON output: http_req_duration and http_req_failed points.
  const durations = new TrendSink();
  const failed = new RateSink();
  // Answers by request name and status from http_reqs points (k6 keeps no bodies, so no refusal detail).
  const requests: Record<string, RequestStats> = {};
  let offset = 0;
  let partial = "";
  const tail = async () => {
    const file = Bun.file(pointsPath);
    if (!(await file.exists())) return;
    const text = await file.slice(offset).text();
    offset += Buffer.byteLength(text);
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.includes('"Point"')) continue;
      const point = JSON.parse(line) as {
        metric: string;
        data: { value: number; tags?: Record<string, string> };
      };
      if (point.metric === "http_req_duration") durations.add(point.data.value);
      else if (point.metric === "http_req_failed") failed.add(point.data.value);
      else if (point.metric === "http_reqs") {
        const name = point.data.tags?.name ?? point.data.tags?.url ?? "";
        const status = point.data.tags?.status ?? "0";
        requests[name] ??= { statuses: {}, refused: null };
        const stats = requests[name];
        stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
        if ((status === "401" || status === "403") && !stats.refused)
          stats.refused = { status: Number(status), detail: null };
      }
    }
    opts.onProgress?.({
      elapsedMs: performance.now() - started,
      requests: durations.count,
      p95: durations.count ? durations.percentile(95) : null,
      errorRate: failed.count ? failed.rate : null,
      iterations: 0,
      vus: 0,
    });
  };
  const ticker = setInterval(() => void tail().catch(() => {}), opts.progressIntervalMs ?? 1000);
  const code = await child.exited;
  clearInterval(ticker);
  opts.signal?.removeEventListener("abort", onAbort);
  await tail().catch(() => {});

  try {
    let summary: SummaryExport;
    try {
      summary = JSON.parse(await readFile(summaryPath, "utf8")) as SummaryExport;
    } catch {
      throw new Error(`k6 exited with ${code} and wrote no summary export`);
    }
    return {
      engine: "k6",
      summary,
      outcomes: outcomesFromK6Summary(summary, thresholdKeys),
      numbers: numbersFromK6Summary(summary),
      durationMs: performance.now() - started,
      aborted: opts.signal?.aborted ? "stopped from outside (signal)" : null,
      iterationErrors: 0,
      timeMetrics: [],
      notes: [`k6 exited with ${code}`],
      requests,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
