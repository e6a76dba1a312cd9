import { compare, loadScriptOptions, parseThresholds, type ThresholdDefinition } from "@fig/loadgate";
import { quantileOf, type UpstreamWindow } from "./prometheus.ts";
import type { GatewayMeasurement, ThresholdResult } from "./schema.ts";

/**
 * The budgets the gateway's numbers are held to when a gate script declares none of its own (p95 under 500 ms,
 * under 1 % failed), so no promotion step is judged without one.
 */
export const DEFAULT_BUDGETS = { http_req_duration: "p(95)<500", http_req_failed: "rate<0.01" } as const;

type Metric = keyof typeof DEFAULT_BUDGETS;
export type Budget = ThresholdDefinition & { metric: Metric };

const isBudget = (d: ThresholdDefinition): d is Budget =>
  d.tags.length === 0 && (d.metric === "http_req_duration" || d.metric === "http_req_failed");

/**
 * The gate script's own budgets on `http_req_duration` and `http_req_failed` (untagged), which the gateway's
 * numbers for the candidate are held to as well: one set of budgets for both views of a step.
 */
export async function budgetsOf(script: string, env: Record<string, string>): Promise<Budget[]> {
  const { options } = await loadScriptOptions(script, env);
  const defined = parseThresholds((options as { thresholds?: unknown }).thresholds ?? {}).filter(isBudget);
  const missing = (Object.keys(DEFAULT_BUDGETS) as Metric[]).filter(
    (m) => !defined.some((d) => d.metric === m),
  );
  const defaults = parseThresholds(Object.fromEntries(missing.map((m) => [m, [DEFAULT_BUDGETS[m]]]))).filter(
    isBudget,
  );
  return [...defined, ...defaults];
}

/** The value a budget reads from the gateway's window, or undefined when the histogram cannot give it. */
function budgetValue(budget: Budget, window: UpstreamWindow, errorRate: number): number | undefined {
  const { method, percentile } = budget.expression;
  if (budget.metric === "http_req_failed") return method === "rate" ? errorRate : undefined;
  const count = window.buckets.at(-1)?.[1] ?? 0;
  if (method === "avg") return count > 0 ? (window.sumSeconds / count) * 1000 : undefined;
  const q = method === "med" ? 0.5 : method === "p" ? (percentile ?? 0) / 100 : undefined;
  if (q === undefined) return undefined;
  const seconds = quantileOf(window.buckets, q);
  return seconds === null ? undefined : seconds * 1000;
}

/**
 * The candidate's numbers as the gateway saw them over the step window, held to the budgets. Failures are
 * 5xx answers plus attempts that got none (connection errors, timeouts); p95 comes from the histogram.
 */
export function gatewayMeasurement(
  window: UpstreamWindow,
  budgets: Budget[],
  upstream: string,
  span: { from: string; to: string },
  coverage: Pick<GatewayMeasurement, "processes" | "partial"> = { processes: null, partial: null },
): GatewayMeasurement {
  const attempts = window.requests + window.transportErrors;
  const errors = window.serverErrors + window.transportErrors;
  const errorRate = attempts > 0 ? errors / attempts : 0;
  const p95 = quantileOf(window.buckets, 0.95);
  const thresholds: ThresholdResult[] = [];
  for (const budget of budgets) {
    const base = { key: budget.key, expression: budget.expression.source, samples: attempts };
    const value = attempts > 0 ? budgetValue(budget, window, errorRate) : undefined;
    if (attempts > 0 && value === undefined && budget.metric === "http_req_duration" && window.requests > 0) {
      continue; // min/max of a histogram are not measurable: the gate's own number decides those
    }
    if (value === undefined) thresholds.push({ ...base, ok: false, inconclusive: true, value: null });
    else
      thresholds.push({
        ...base,
        ok: compare(value, budget.expression.operator, budget.expression.value),
        inconclusive: false,
        value,
      });
  }
  return {
    upstream,
    ...span,
    numbers: {
      p95: p95 === null ? null : p95 * 1000,
      errorRate: attempts > 0 ? errorRate : null,
      requests: attempts,
    },
    errors,
    thresholds,
    note: "p95 interpolated within the gateway's histogram buckets (time to response headers)",
    processes: coverage.processes ?? null,
    partial: coverage.partial ?? null,
  };
}
