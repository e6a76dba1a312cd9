/**
 * The threshold grammar and its evaluation, checked against k6's documented semantics
 * (k6 metrics/thresholds_parser.go BNF, metrics/thresholds.go sinks, metrics/sink.go percentiles,
 * js/summary-wrapper.js for the inverted `thresholds` booleans of --summary-export).
 */
import { describe, expect, test } from "bun:test";
import { CounterSink, GaugeSink, MetricRegistry, RateSink, TrendSink } from "../src/metrics.ts";
import { metricsToSummary } from "../src/summary.ts";
import {
  assertMethodFits,
  evaluateThreshold,
  parseMetricSelector,
  parseThresholdExpression,
  parseThresholds,
  ThresholdConfigError,
  type ThresholdOutcome,
  verdictOf,
} from "../src/thresholds.ts";

describe("parseThresholdExpression: k6's BNF", () => {
  const accepted: [string, { method: string; percentile?: number; operator: string; value: number }][] = [
    ["p(95)<500", { method: "p", percentile: 95, operator: "<", value: 500 }],
    ["p(99.9) > 1.5", { method: "p", percentile: 99.9, operator: ">", value: 1.5 }],
    ["avg<=200", { method: "avg", operator: "<=", value: 200 }],
    ["  med  >=  10 ", { method: "med", operator: ">=", value: 10 }],
    ["min>0", { method: "min", operator: ">", value: 0 }],
    ["max<1e3", { method: "max", operator: "<", value: 1000 }],
    ["rate<0.01", { method: "rate", operator: "<", value: 0.01 }],
    ["count===10", { method: "count", operator: "===", value: 10 }],
    ["value==3", { method: "value", operator: "==", value: 3 }],
    ["count!=0", { method: "count", operator: "!=", value: 0 }],
  ];
  for (const [source, want] of accepted)
    test(`accepts ${JSON.stringify(source)}`, () => {
      expect(parseThresholdExpression(source)).toEqual({ source, ...want } as never);
    });

  test("scans '<=' before '<' and '===' before '==' (k6's operatorTokens order)", () => {
    expect(parseThresholdExpression("p(95)<=500").operator).toBe("<=");
    expect(parseThresholdExpression("p(95)<=500").value).toBe(500);
    expect(parseThresholdExpression("count===1").operator).toBe("===");
  });

  const refused = [
    "p95<500",
    "p(95)500",
    "rate<",
    "<1",
    "foo<1",
    "p(101)<5",
    "p(abc)<1",
    "rate<abc",
    "rate=0.1",
    "",
  ];
  for (const source of refused)
    test(`refuses ${JSON.stringify(source)}`, () => {
      expect(() => parseThresholdExpression(source)).toThrow(ThresholdConfigError);
    });
});

describe("parseMetricSelector: k6's ParseMetricName", () => {
  test("plain names and tag selectors, trimmed of spaces and quotes", () => {
    expect(parseMetricSelector("http_req_duration")).toEqual({ metric: "http_req_duration", tags: [] });
    expect(parseMetricSelector("http_req_duration{name:get-code}")).toEqual({
      metric: "http_req_duration",
      tags: [["name", "get-code"]],
    });
    expect(parseMetricSelector("http_req_duration{ name : 'get-code' , method:\"GET\"}")).toEqual({
      metric: "http_req_duration",
      tags: [
        ["name", "get-code"],
        ["method", "GET"],
      ],
    });
    expect(parseMetricSelector("http_req_duration{url:http://x/y}").tags).toEqual([["url", "http://x/y"]]);
  });
  for (const bad of ["m{name:x", "m}name:x{", "m{name:x}y", "m{name}", "m{name:}"])
    test(`refuses ${JSON.stringify(bad)}`, () => {
      expect(() => parseMetricSelector(bad)).toThrow(ThresholdConfigError);
    });
});

describe("parseThresholds: short and long forms", () => {
  test("strings and { threshold, abortOnFail, delayAbortEval }", () => {
    const defs = parseThresholds({
      http_req_duration: ["p(95)<500", { threshold: "p(99)<900", abortOnFail: true, delayAbortEval: "10s" }],
      "http_req_failed{scenario:reads}": [{ threshold: "rate<0.01" }],
    });
    expect(
      defs.map((d) => [d.key, d.metric, d.expression.source, d.abortOnFail, d.delayAbortEvalMs]),
    ).toEqual([
      ["http_req_duration", "http_req_duration", "p(95)<500", false, undefined],
      ["http_req_duration", "http_req_duration", "p(99)<900", true, 10_000],
      ["http_req_failed{scenario:reads}", "http_req_failed", "rate<0.01", false, undefined],
    ]);
  });
  test("a metric's thresholds must be an array, items strings or long forms", () => {
    expect(() => parseThresholds({ http_req_duration: "p(95)<500" })).toThrow(ThresholdConfigError);
    expect(() => parseThresholds({ http_req_duration: [{ abortOnFail: true }] })).toThrow(
      ThresholdConfigError,
    );
    expect(() => parseThresholds([])).toThrow(ThresholdConfigError);
  });
});

describe("aggregations per metric type (k6 refuses the others)", () => {
  const table: [string, "trend" | "rate" | "counter" | "gauge", boolean][] = [
    ["p(95)<1", "trend", true],
    ["avg<1", "trend", true],
    ["med<1", "trend", true],
    ["rate<1", "trend", false],
    ["count<1", "trend", false],
    ["rate<1", "rate", true],
    ["p(95)<1", "rate", false],
    ["count<1", "counter", true],
    ["rate<1", "counter", true],
    ["value<1", "counter", false],
    ["value<1", "gauge", true],
    ["count<1", "gauge", false],
  ];
  for (const [source, type, fits] of table)
    test(`${source} on a ${type}: ${fits ? "accepted" : "refused"}`, () => {
      const [def] = parseThresholds({ m: [source] });
      const run = () => assertMethodFits(def as NonNullable<typeof def>, type);
      if (fits) expect(run).not.toThrow();
      else expect(run).toThrow(ThresholdConfigError);
    });
});

describe("percentiles: k6's linear interpolation between closest ranks", () => {
  const trend = (values: number[]) => {
    const sink = new TrendSink();
    for (const v of values) sink.add(v);
    return sink;
  };
  test("rank p/100 × (n − 1), interpolated", () => {
    const sink = trend([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]); // unsorted on purpose
    expect(sink.percentile(95)).toBeCloseTo(9.55, 10); // rank 8.55: 9 + 0.55 × (10 − 9)
    expect(sink.percentile(90)).toBeCloseTo(9.1, 10);
    expect(sink.percentile(50)).toBeCloseTo(5.5, 10);
    expect(sink.med).toBeCloseTo(5.5, 10); // even count: mean of the middle two
    expect(sink.percentile(0)).toBe(1);
    expect(sink.percentile(100)).toBe(10);
    expect([sink.min, sink.max, sink.avg, sink.count]).toEqual([1, 10, 5.5, 10]);
  });
  test("one value is every percentile; none is 0 (k6 returns 0 on an empty sink)", () => {
    expect(trend([42]).percentile(95)).toBe(42);
    expect(trend([]).percentile(95)).toBe(0);
  });
  test("a sample added after a read is seen by the next read", () => {
    const sink = trend([1, 2]);
    expect(sink.percentile(100)).toBe(2);
    sink.add(3);
    expect(sink.percentile(100)).toBe(3);
  });
});

describe("evaluateThreshold and the no-data rule", () => {
  const def = (key: string, source: string) =>
    parseThresholds({ [key]: [source] })[0] as NonNullable<ReturnType<typeof parseThresholds>[0]>;
  test("a rate exactly at the budget fails '<' and passes '<='", () => {
    const failed = new RateSink();
    for (let i = 0; i < 100; i++) failed.add(i === 0 ? 1 : 0);
    expect(evaluateThreshold(def("http_req_failed", "rate<0.01"), failed, 1)).toMatchObject({
      ok: false,
      value: 0.01,
      samples: 100,
    });
    expect(evaluateThreshold(def("http_req_failed", "rate<=0.01"), failed, 1)).toMatchObject({ ok: true });
  });
  test("a counter's rate is per second of test time", () => {
    const counter = new CounterSink();
    for (let i = 0; i < 30; i++) counter.add(1);
    expect(evaluateThreshold(def("http_reqs", "rate>=10"), counter, 3)).toMatchObject({
      ok: true,
      value: 10,
    });
    expect(evaluateThreshold(def("http_reqs", "count==30"), counter, 3)).toMatchObject({
      ok: true,
      value: 30,
    });
  });
  test("a gauge's value is the last one", () => {
    const gauge = new GaugeSink();
    gauge.add(5);
    gauge.add(2);
    expect(evaluateThreshold(def("vus", "value<3"), gauge, 1)).toMatchObject({ ok: true, value: 2 });
  });
  test("zero samples is inconclusive, not a pass: even 'rate>0.99' on empty checks (k6 #4283 passes it)", () => {
    for (const [key, source, sink] of [
      ["checks", "rate>0.99", new RateSink()],
      ["http_req_failed", "rate<0.01", new RateSink()],
      ["http_req_duration", "p(95)<500", new TrendSink()],
      ["http_reqs", "count<10", new CounterSink()],
      ["vus", "value<10", new GaugeSink()],
    ] as const)
      expect(evaluateThreshold(def(key, source), sink, 1)).toMatchObject({
        ok: false,
        inconclusive: true,
        value: null,
        samples: 0,
      });
  });
  test("verdict: a failure on data wins, then no data, then pass; no thresholds decide nothing", () => {
    const o = (ok: boolean, inconclusive = false) => ({ ok, inconclusive }) as ThresholdOutcome;
    expect(verdictOf([o(true), o(true)])).toBe("pass");
    expect(verdictOf([o(true), o(false)])).toBe("fail");
    expect(verdictOf([o(true), o(false, true)])).toBe("inconclusive");
    expect(verdictOf([o(false), o(false, true)])).toBe("fail");
    expect(verdictOf([])).toBe("inconclusive");
  });
});

describe("--summary-export thresholds: true means FAILED", () => {
  test("passed → false, failed → true, inconclusive → true (it did not pass)", () => {
    const registry = new MetricRegistry();
    const duration = registry.define("http_req_duration", "trend", "time");
    const failed = registry.define("http_req_failed", "rate");
    registry.define("checks", "rate");
    const sub = registry.submetric(duration, "http_req_duration{name:get-code}", [["name", "get-code"]]);
    for (let i = 1; i <= 100; i++) {
      registry.add(duration, i * 10, { name: i % 2 ? "get-code" : "list" });
      registry.add(failed, i <= 5 ? 1 : 0, {});
    }
    expect(sub.sink.count).toBe(50);
    const defs = parseThresholds({
      http_req_duration: ["p(95)<2000", "p(95)<100"],
      http_req_failed: ["rate<0.01"],
      checks: ["rate>0.99"],
      "http_req_duration{name:get-code}": ["max<=990"],
    });
    const sinkOf = (key: string) =>
      key === "http_req_duration"
        ? duration.sink
        : key === "http_req_failed"
          ? failed.sink
          : key === "checks"
            ? (registry.metrics.get("checks")?.sink as RateSink)
            : sub.sink;
    const outcomes = defs.map((d) => evaluateThreshold(d, sinkOf(d.key), 10));
    const metrics = metricsToSummary(registry, outcomes, 10, ["avg", "min", "med", "max", "p(90)", "p(95)"]);
    expect(metrics.http_req_duration?.thresholds).toEqual({ "p(95)<2000": false, "p(95)<100": true });
    expect(metrics.http_req_failed).toEqual({
      passes: 5,
      fails: 95,
      value: 0.05,
      thresholds: { "rate<0.01": true },
    });
    expect(metrics.checks?.thresholds).toEqual({ "rate>0.99": true });
    expect(metrics["http_req_duration{name:get-code}"]).toMatchObject({
      max: 990,
      thresholds: { "max<=990": false },
    });
    expect(Object.keys(metrics.http_req_duration ?? {})).toEqual([
      "avg",
      "min",
      "med",
      "max",
      "p(90)",
      "p(95)",
      "thresholds",
    ]);
  });
});
