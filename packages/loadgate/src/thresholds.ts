/**
 * k6's threshold grammar (k6 metrics/thresholds_parser.go, metrics/thresholds.go) and Fig's no-data rule.
 *
 *   assertion  -> aggregation whitespace* operator whitespace* float
 *   aggregation-> "count" | "rate" (counter) | "value" (gauge) | "rate" (rate) | "avg"|"min"|"max"|"med"|"p(" float ")" (trend)
 *   operator   -> "<=" | "<" | ">=" | ">" | "===" | "==" | "!="   (scanned in this order, as k6 does)
 *
 * A metric key may select a sub-metric by tags: `http_req_duration{name:get-code,method:GET}`.
 * Each threshold is a string or the long form `{ threshold, abortOnFail, delayAbortEval }`.
 */
import { parseDuration } from "./duration.ts";
import type { MetricType, Sink } from "./metrics.ts";
import { CounterSink, GaugeSink, RateSink, TrendSink } from "./metrics.ts";

export type Operator = "<=" | "<" | ">=" | ">" | "===" | "==" | "!=";
export type Aggregation = "avg" | "min" | "max" | "med" | "p" | "rate" | "count" | "value";

/** The order matters: a substring scan must try longer tokens sharing a prefix first (k6's operatorTokens). */
const OPERATORS: readonly Operator[] = ["<=", "<", ">=", ">", "===", "==", "!="];
const PLAIN_METHODS: readonly Aggregation[] = ["value", "count", "rate", "avg", "min", "med", "max"];

export const METHODS_BY_TYPE: Record<MetricType, readonly Aggregation[]> = {
  counter: ["count", "rate"],
  gauge: ["value"],
  rate: ["rate"],
  trend: ["avg", "min", "max", "med", "p"],
};

export class ThresholdConfigError extends Error {
  override name = "ThresholdConfigError";
}

export type ThresholdExpression = {
  source: string;
  method: Aggregation;
  /** For `p(N)`: N, in 0..100. */
  percentile?: number;
  operator: Operator;
  value: number;
};

function parseNumber(text: string, what: string, source: string): number {
  // strconv.ParseFloat accepts the usual decimal and exponent forms; an empty side is malformed.
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text))
    throw new ThresholdConfigError(
      `threshold ${JSON.stringify(source)}: ${what} ${JSON.stringify(text)} is not a number`,
    );
  return Number(text);
}

export function parseThresholdExpression(source: string): ThresholdExpression {
  if (typeof source !== "string")
    throw new ThresholdConfigError(`threshold ${JSON.stringify(source)} is not a string`);
  for (const operator of OPERATORS) {
    const at = source.indexOf(operator);
    if (at === -1) continue;
    const left = source.slice(0, at).trim();
    const right = source.slice(at + operator.length).trim();
    const value = parseNumber(right, "right-hand side", source);
    if ((PLAIN_METHODS as readonly string[]).includes(left))
      return { source, method: left as Aggregation, operator, value };
    if (left.startsWith("p(") && left.endsWith(")")) {
      const percentile = parseNumber(left.slice(2, -1), "percentile", source);
      if (percentile < 0 || percentile > 100)
        throw new ThresholdConfigError(
          `threshold ${JSON.stringify(source)}: percentile must be within 0..100`,
        );
      return { source, method: "p", percentile, operator, value };
    }
    throw new ThresholdConfigError(
      `threshold ${JSON.stringify(source)}: unknown aggregation ${JSON.stringify(left)} (avg, min, med, max, p(N), rate, count, value)`,
    );
  }
  throw new ThresholdConfigError(
    `threshold ${JSON.stringify(source)}: malformed, no operator (< <= > >= == === !=)`,
  );
}

/** k6's ParseMetricName: `name` or `name{k:v,k2:v2}`; keys and values are trimmed of spaces and quotes. */
export function parseMetricSelector(key: string): { metric: string; tags: [string, string][] } {
  const open = key.indexOf("{");
  const close = key.lastIndexOf("}");
  if (open === -1 && close === -1) return { metric: key, tags: [] };
  if (open === -1 || close === -1 || close < open || close !== key.length - 1)
    throw new ThresholdConfigError(`metric ${JSON.stringify(key)}: malformed tag selector`);
  const tags: [string, string][] = [];
  for (const part of key.slice(open + 1, close).split(",")) {
    const colon = part.indexOf(":");
    const trim = (s: string) => s.trim().replace(/^["']+|["']+$/g, "");
    if (colon === -1 || trim(part.slice(colon + 1)) === "")
      throw new ThresholdConfigError(
        `metric ${JSON.stringify(key)}: tag ${JSON.stringify(part)} is not key:value`,
      );
    tags.push([trim(part.slice(0, colon)), trim(part.slice(colon + 1))]);
  }
  return { metric: key.slice(0, open), tags };
}

export type ThresholdDefinition = {
  /** The key as written in `options.thresholds` (metric or sub-metric). */
  key: string;
  metric: string;
  tags: [string, string][];
  expression: ThresholdExpression;
  abortOnFail: boolean;
  /** Abort only once the test has run this long (k6 `delayAbortEval`). */
  delayAbortEvalMs: number | undefined;
};

/** `options.thresholds` → definitions; throws ThresholdConfigError as k6 refuses the config (exit 104). */
export function parseThresholds(raw: unknown): ThresholdDefinition[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ThresholdConfigError("options.thresholds must be an object of metric → array of thresholds");
  const out: ThresholdDefinition[] = [];
  for (const [key, list] of Object.entries(raw as Record<string, unknown>)) {
    const { metric, tags } = parseMetricSelector(key);
    if (!Array.isArray(list)) throw new ThresholdConfigError(`thresholds of ${key}: must be an array`);
    for (const item of list) {
      if (typeof item === "string") {
        out.push({
          key,
          metric,
          tags,
          expression: parseThresholdExpression(item),
          abortOnFail: false,
          delayAbortEvalMs: undefined,
        });
        continue;
      }
      if (
        !item ||
        typeof item !== "object" ||
        typeof (item as { threshold?: unknown }).threshold !== "string"
      )
        throw new ThresholdConfigError(
          `thresholds of ${key}: each item is a string or { threshold, abortOnFail, delayAbortEval }`,
        );
      const long = item as { threshold: string; abortOnFail?: unknown; delayAbortEval?: unknown };
      out.push({
        key,
        metric,
        tags,
        expression: parseThresholdExpression(long.threshold),
        abortOnFail: long.abortOnFail === true,
        delayAbortEvalMs:
          long.delayAbortEval === undefined || long.delayAbortEval === null || long.delayAbortEval === ""
            ? undefined
            : parseDuration(long.delayAbortEval, `delayAbortEval of ${key}`),
      });
    }
  }
  return out;
}

/** k6 refuses an aggregation the metric type does not have (`p(95)` on a rate, `rate` on a trend). */
export function assertMethodFits(def: ThresholdDefinition, type: MetricType) {
  if (!METHODS_BY_TYPE[type].includes(def.expression.method))
    throw new ThresholdConfigError(
      `threshold ${JSON.stringify(def.expression.source)} on ${def.key}: ${def.expression.method === "p" ? "p(N)" : def.expression.method} is not an aggregation of a ${type} (use ${METHODS_BY_TYPE[type].map((m) => (m === "p" ? "p(N)" : m)).join(", ")})`,
    );
}

/** The left-hand value of a threshold, as k6's Thresholds.Run sinks it (counter rate is per second of test). */
export function aggregate(sink: Sink, expr: ThresholdExpression, elapsedSeconds: number): number {
  if (sink instanceof TrendSink) {
    if (expr.method === "p") return sink.percentile(expr.percentile ?? 0);
    return sink[expr.method as "avg" | "min" | "max" | "med"];
  }
  if (sink instanceof RateSink) return sink.rate;
  if (sink instanceof CounterSink)
    return expr.method === "rate" ? sink.sum / Math.max(elapsedSeconds, 1e-9) : sink.sum;
  if (sink instanceof GaugeSink) return sink.value;
  throw new Error("unknown sink");
}

export function compare(lhs: number, operator: Operator, rhs: number): boolean {
  switch (operator) {
    case "<":
      return lhs < rhs;
    case "<=":
      return lhs <= rhs;
    case ">":
      return lhs > rhs;
    case ">=":
      return lhs >= rhs;
    case "==":
    case "===":
      return lhs === rhs;
    case "!=":
      return lhs !== rhs;
  }
}

export type ThresholdOutcome = {
  key: string;
  expression: string;
  /** Passed, on data. */
  ok: boolean;
  /** No sample on the metric (or sub-metric): neither a pass nor a fail. */
  inconclusive: boolean;
  /** The aggregated left-hand value, null without data. */
  value: number | null;
  samples: number;
  abortOnFail: boolean;
};

/** Evaluates one threshold on its sink; zero samples is inconclusive (never a pass, unlike k6 #4283). */
export function evaluateThreshold(
  def: ThresholdDefinition,
  sink: Sink,
  elapsedSeconds: number,
): ThresholdOutcome {
  const base = {
    key: def.key,
    expression: def.expression.source,
    samples: sink.count,
    abortOnFail: def.abortOnFail,
  };
  if (sink.count === 0) return { ...base, ok: false, inconclusive: true, value: null };
  const value = aggregate(sink, def.expression, elapsedSeconds);
  return {
    ...base,
    ok: compare(value, def.expression.operator, def.expression.value),
    inconclusive: false,
    value,
  };
}

export type Verdict = "pass" | "fail" | "inconclusive";

/**
 * A failure on data wins (roll back at once); else any threshold without data makes the whole gate
 * inconclusive; no thresholds at all decides nothing either.
 */
export function verdictOf(outcomes: ThresholdOutcome[]): Verdict {
  if (outcomes.some((o) => !o.ok && !o.inconclusive)) return "fail";
  if (outcomes.length === 0 || outcomes.some((o) => o.inconclusive)) return "inconclusive";
  return "pass";
}

/** k6 exit code 99 (ThresholdsHaveFailed); 98 is Fig's inconclusive (k6 uses 98 only for cloud runs). */
export const EXIT_CODES = {
  pass: 0,
  fail: 99,
  inconclusive: 98,
  usage: 2,
  invalidConfig: 104,
  scriptException: 107,
} as const;
