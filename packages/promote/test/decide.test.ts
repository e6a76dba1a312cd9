import { describe, expect, test } from "bun:test";
import { parseThresholds } from "@fig/loadgate";
import { type Budget, gatewayMeasurement } from "../src/budgets.ts";
import { parseMetrics, quantileOf, windowOf } from "../src/prometheus.ts";
import { decide } from "../src/promote.ts";
import type { GateMeasurement } from "../src/schema.ts";

const budgets = parseThresholds({
  http_req_duration: ["p(95)<500"],
  http_req_failed: ["rate<0.01"],
}) as Budget[];

const page = (n: { ok: number; failed: number; fast: number; slow: number }) => `
# HELP gateway_upstream_requests_total x
gateway_upstream_requests_total{route="rd",upstream="cand",method="GET",status="200"} ${n.ok}
gateway_upstream_requests_total{route="rd",upstream="cand",method="GET",status="500"} ${n.failed}
gateway_upstream_requests_total{route="rd",upstream="monolith",method="GET",status="500"} 999
gateway_upstream_errors_total{route="rd",upstream="cand",kind="http_500"} ${n.failed}
gateway_upstream_duration_seconds_bucket{le="0.1",route="rd",upstream="cand"} ${n.fast}
gateway_upstream_duration_seconds_bucket{le="1",route="rd",upstream="cand"} ${n.fast + n.slow}
gateway_upstream_duration_seconds_bucket{le="+Inf",route="rd",upstream="cand"} ${n.fast + n.slow}
gateway_upstream_duration_seconds_sum{route="rd",upstream="cand"} ${n.fast * 0.05 + n.slow * 0.6}
`;

const passingGate: GateMeasurement = {
  script: "x.js",
  engine: "builtin",
  verdict: "pass",
  pin: "cand",
  numbers: { p95: 10, errorRate: 0, requests: 100 },
  thresholds: [
    {
      key: "http_req_failed",
      expression: "rate<0.01",
      ok: true,
      inconclusive: false,
      value: 0,
      samples: 100,
    },
  ],
  summary: {},
};

describe("the gateway's numbers for the candidate over a window", () => {
  test("counters and buckets are diffed per route and upstream; another upstream's errors do not count", () => {
    const before = parseMetrics(page({ ok: 100, failed: 0, fast: 100, slow: 0 }));
    const after = parseMetrics(page({ ok: 195, failed: 5, fast: 190, slow: 10 }));
    const window = windowOf(before, after, "rd", "cand");
    expect(window).toMatchObject({ requests: 100, serverErrors: 5, transportErrors: 0 });
    const m = gatewayMeasurement(window, budgets, "cand", { from: "a", to: "b" });
    expect(m.numbers.errorRate).toBeCloseTo(0.05);
    // 95th of 100: rank 95 of [90 in ≤0.1 s, 10 in 0.1–1 s] → 0.1 + 0.9 × 5/10 = 0.55 s.
    expect(m.numbers.p95).toBeCloseTo(550);
    expect(m.thresholds.map((t) => [t.expression, t.ok])).toEqual([
      ["p(95)<500", false],
      ["rate<0.01", false],
    ]);
  });

  test("a gateway restart (counters lower than before) counts from zero", () => {
    const before = parseMetrics(page({ ok: 500, failed: 0, fast: 500, slow: 0 }));
    const after = parseMetrics(page({ ok: 30, failed: 0, fast: 30, slow: 0 }));
    expect(windowOf(before, after, "rd", "cand").requests).toBe(30);
  });

  test("quantiles interpolate inside a bucket and are null without observations", () => {
    expect(
      quantileOf(
        [
          [1, 0],
          [Infinity, 0],
        ],
        0.95,
      ),
    ).toBeNull();
    expect(
      quantileOf(
        [
          [0.1, 50],
          [0.2, 100],
          [Infinity, 100],
        ],
        0.5,
      ),
    ).toBeCloseTo(0.1);
    expect(
      quantileOf(
        [
          [0.1, 0],
          [0.2, 100],
          [Infinity, 100],
        ],
        0.5,
      ),
    ).toBeCloseTo(0.15);
  });
});

describe("decide: never a pass on no data", () => {
  const window = (ok: number) =>
    windowOf(
      parseMetrics(page({ ok: 0, failed: 0, fast: 0, slow: 0 })),
      parseMetrics(page({ ok, failed: 0, fast: ok, slow: 0 })),
      "rd",
      "cand",
    );

  test("enough candidate requests within budget, gate pass → pass", () => {
    expect(
      decide(passingGate, gatewayMeasurement(window(60), budgets, "cand", { from: "", to: "" }), 50).verdict,
    ).toBe("pass");
  });

  test("too few candidate requests → inconclusive even though the gate passed", () => {
    const d = decide(passingGate, gatewayMeasurement(window(10), budgets, "cand", { from: "", to: "" }), 50);
    expect(d.verdict).toBe("inconclusive");
    expect(d.reason).toContain("only 10 candidate requests");
  });

  test("no request at all → inconclusive; a gate with a no-data threshold → inconclusive", () => {
    expect(
      decide(passingGate, gatewayMeasurement(window(0), budgets, "cand", { from: "", to: "" }), 1).verdict,
    ).toBe("inconclusive");
    const noData: GateMeasurement = {
      ...passingGate,
      verdict: "inconclusive",
      thresholds: [
        { key: "checks", expression: "rate>0.99", ok: false, inconclusive: true, value: null, samples: 0 },
      ],
    };
    expect(
      decide(noData, gatewayMeasurement(window(60), budgets, "cand", { from: "", to: "" }), 50).verdict,
    ).toBe("inconclusive");
  });

  test("a failing gate fails the step whatever the gateway saw", () => {
    const failing: GateMeasurement = {
      ...passingGate,
      verdict: "fail",
      thresholds: [
        {
          key: "http_req_failed",
          expression: "rate<0.01",
          ok: false,
          inconclusive: false,
          value: 0.05,
          samples: 100,
        },
      ],
    };
    const d = decide(failing, gatewayMeasurement(window(5), budgets, "cand", { from: "", to: "" }), 50);
    expect(d.verdict).toBe("fail");
    expect(d.reason).toContain("gate http_req_failed rate<0.01 was 0.05");
  });

  test("a gate refused wholesale says so in plain words before its threshold lines, whatever the gateway saw", () => {
    const refused: GateMeasurement = {
      ...passingGate,
      verdict: "fail",
      numbers: { p95: 3, errorRate: 1, requests: 40 },
      refusals: [
        "every upload-file request was refused 403 (Requires role editor or higher; the token has gate)",
      ],
      thresholds: [
        {
          key: "http_req_failed",
          expression: "rate<0.01",
          ok: false,
          inconclusive: false,
          value: 1,
          samples: 40,
        },
      ],
    };
    // No candidate request reached the gateway's upstream: without the refusal this would only be inconclusive.
    const d = decide(refused, gatewayMeasurement(window(0), budgets, "cand", { from: "", to: "" }), 50);
    expect(d.verdict).toBe("fail");
    expect(d.reason).toBe(
      "every upload-file request was refused 403 (Requires role editor or higher; the token has gate); " +
        "gate http_req_failed rate<0.01 was 1",
    );
  });
});
