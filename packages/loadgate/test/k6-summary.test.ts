/**
 * Reading real k6's --summary-export (the k6 engine): the inverted booleans, and no data as inconclusive even
 * where k6 itself passed the threshold (k6 #4283: empty `checks` passes; a sub-metric with no samples).
 */
import { expect, test } from "bun:test";
import { numbersFromK6Summary, outcomesFromK6Summary } from "../src/k6-engine.ts";
import type { SummaryExport } from "../src/summary.ts";
import { verdictOf } from "../src/thresholds.ts";

// The shape k6's oldJSONSummary writes, with `count` in the trend stats as the k6 engine asks for.
const k6Export = (overrides: Record<string, unknown> = {}): SummaryExport =>
  ({
    root_group: { name: "", path: "", id: "d41d8cd98f00b204e9800998ecf8427e", groups: {}, checks: {} },
    metrics: {
      http_req_duration: {
        avg: 12,
        min: 1,
        med: 10,
        max: 90,
        "p(90)": 30,
        "p(95)": 41.5,
        "p(99)": 80,
        count: 200,
        thresholds: { "p(95)<500": false },
      },
      http_req_failed: { passes: 1, fails: 199, value: 0.005, thresholds: { "rate<0.01": false } },
      http_reqs: { count: 200, rate: 20 },
      "http_req_duration{name:get-code}": {
        avg: 0,
        min: 0,
        med: 0,
        max: 0,
        "p(90)": 0,
        "p(95)": 0,
        "p(99)": 0,
        count: 0,
        thresholds: { "p(95)<500": false },
      },
      ...overrides,
    },
  }) as SummaryExport;

const keys = [
  { key: "http_req_duration", expression: "p(95)<500", abortOnFail: false },
  { key: "http_req_failed", expression: "rate<0.01", abortOnFail: false },
];

test("false is a pass on data, with the number behind it", () => {
  const outcomes = outcomesFromK6Summary(k6Export(), keys);
  expect(outcomes).toEqual([
    {
      key: "http_req_duration",
      expression: "p(95)<500",
      ok: true,
      inconclusive: false,
      value: 41.5,
      samples: 200,
      abortOnFail: false,
    },
    {
      key: "http_req_failed",
      expression: "rate<0.01",
      ok: true,
      inconclusive: false,
      value: 0.005,
      samples: 200,
      abortOnFail: false,
    },
  ]);
  expect(verdictOf(outcomes)).toBe("pass");
  expect(numbersFromK6Summary(k6Export())).toEqual({ p95: 41.5, errorRate: 0.005, requests: 200 });
});

test("true is a failure", () => {
  const summary = k6Export({
    http_req_failed: { passes: 10, fails: 190, value: 0.05, thresholds: { "rate<0.01": true } },
  });
  const outcomes = outcomesFromK6Summary(summary, keys);
  expect(outcomes[1]).toMatchObject({ ok: false, inconclusive: false, value: 0.05 });
  expect(verdictOf(outcomes)).toBe("fail");
});

test("k6 passed it, Fig does not: an empty sub-metric, and a metric k6 left out of the summary", () => {
  const outcomes = outcomesFromK6Summary(k6Export(), [
    ...keys,
    { key: "http_req_duration{name:get-code}", expression: "p(95)<500", abortOnFail: false },
    { key: "checks", expression: "rate>0.99", abortOnFail: false },
  ]);
  expect(outcomes.slice(2)).toEqual([
    expect.objectContaining({ ok: false, inconclusive: true, value: null, samples: 0 }),
    expect.objectContaining({ key: "checks", ok: false, inconclusive: true, samples: 0 }),
  ]);
  expect(verdictOf(outcomes)).toBe("inconclusive");
});
