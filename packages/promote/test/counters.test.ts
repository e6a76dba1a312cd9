import { describe, expect, test } from "bun:test";
import { parseThresholds } from "@fig/loadgate";
import { type Budget, gatewayMeasurement } from "../src/budgets.ts";
import { type CountersReading, readCountersAfter, stepWindow } from "../src/counters.ts";
import type { RouteCounters, UpstreamCounters } from "../src/gateway-client.ts";
import { parseMetrics } from "../src/prometheus.ts";
import { decide } from "../src/promote.ts";

// A step's window from two readings of the gateway's counters of the route: with N gateway processes on one
// port, each process's difference, summed; never a pass on part of the gateway.

const budgets = parseThresholds({
  http_req_duration: ["p(95)<500"],
  http_req_failed: ["rate<0.01"],
}) as Budget[];

/** One process's counters of the candidate: `ok` fast answers, `failed` 5xx ones. */
const cand = (ok: number, failed = 0): UpstreamCounters => ({
  upstream: "cand",
  requests: ok + failed,
  serverErrors: failed,
  transportErrors: 0,
  duration: {
    buckets: [
      { le: 0.1, count: ok + failed },
      { le: 1, count: ok + failed },
    ],
    count: ok + failed,
    sumSeconds: (ok + failed) * 0.01,
  },
});

const reading = (
  shares: { process: number; pid: number; ok: number; failed?: number }[],
  of = 2,
): CountersReading => ({
  source: "counters",
  counters: {
    route: "rd",
    at: "2026-01-01T00:00:00.000Z",
    upstreams: [],
    perProcess: shares.map((s) => ({
      process: s.process,
      pid: s.pid,
      upstreams: [cand(s.ok, s.failed), { ...cand(500), upstream: "monolith" }],
    })),
    processes: { of, answered: shares.length },
  } satisfies RouteCounters,
});

describe("a step's window from the gateway's counters", () => {
  test("each process's difference, summed: the whole gateway's requests and failures", () => {
    const before = reading([
      { process: 0, pid: 10, ok: 100 },
      { process: 1, pid: 11, ok: 40 },
    ]);
    const after = reading([
      { process: 0, pid: 10, ok: 130, failed: 1 },
      { process: 1, pid: 11, ok: 90 },
    ]);
    const { window, processes, partial } = stepWindow(before, after, "rd", "cand");
    expect(window).toMatchObject({ requests: 81, serverErrors: 1, transportErrors: 0 });
    expect(window.buckets).toEqual([
      [0.1, 81],
      [1, 81],
      [Infinity, 81],
    ]);
    expect(processes).toEqual({ of: 2, answered: 2 });
    expect(partial).toBeNull();
  });

  test("a process restarted in the window (a new pid) counts from zero, not against the others' sum", () => {
    const before = reading([
      { process: 0, pid: 10, ok: 100 },
      { process: 1, pid: 11, ok: 400 },
    ]);
    const after = reading([
      { process: 0, pid: 10, ok: 110 },
      { process: 1, pid: 12, ok: 5 },
    ]);
    // The sums (500 → 115) would have read as a reset: 115 requests. Per process: 10 + 5.
    expect(stepWindow(before, after, "rd", "cand").window.requests).toBe(15);
  });

  test("a process missing from a reading: left out, and the window is partial", () => {
    const before = reading([
      { process: 0, pid: 10, ok: 100 },
      { process: 1, pid: 11, ok: 40 },
    ]);
    const after = reading([{ process: 0, pid: 10, ok: 150 }]);
    const step = stepWindow(before, after, "rd", "cand");
    expect(step.window.requests).toBe(50);
    expect(step.processes).toEqual({ of: 2, answered: 1 });
    expect(step.partial).toContain("cover 1 of its 2 processes");
  });

  test("a partial window never passes: inconclusive, with the reason; a failure seen in it still fails", () => {
    const before = reading([
      { process: 0, pid: 10, ok: 0 },
      { process: 1, pid: 11, ok: 0 },
    ]);
    const span = { from: "a", to: "b" };
    const healthy = stepWindow(before, reading([{ process: 0, pid: 10, ok: 200 }]), "rd", "cand");
    const measured = gatewayMeasurement(healthy.window, budgets, "cand", span, healthy);
    expect(measured.processes).toEqual({ of: 2, answered: 1 });
    const verdict = decide(null, measured, 10);
    expect(verdict.verdict).toBe("inconclusive");
    expect(verdict.reason).toContain("not the whole gateway's numbers");
    const failing = stepWindow(before, reading([{ process: 0, pid: 10, ok: 150, failed: 50 }]), "rd", "cand");
    expect(decide(null, gatewayMeasurement(failing.window, budgets, "cand", span, failing), 10).verdict).toBe(
      "fail",
    );
    // The whole gateway, healthy: a pass.
    const whole = stepWindow(
      before,
      reading([
        { process: 0, pid: 10, ok: 200 },
        { process: 1, pid: 11, ok: 1 },
      ]),
      "rd",
      "cand",
    );
    expect(decide(null, gatewayMeasurement(whole.window, budgets, "cand", span, whole), 10).verdict).toBe(
      "pass",
    );
  });
});

describe("an older gateway (no counters endpoint): its /metrics", () => {
  const page = (ok: number) =>
    parseMetrics(
      `gateway_upstream_requests_total{route="rd",upstream="cand",method="GET",status="200"} ${ok}\n`,
    );

  test("the window's end is read from the process its start was read from", async () => {
    const pages = [
      {
        text: `gateway_upstream_requests_total{route="rd",upstream="cand",method="GET",status="200"} 7\n`,
        process: "1",
      },
      {
        text: `gateway_upstream_requests_total{route="rd",upstream="cand",method="GET",status="200"} 30\n`,
        process: "0",
      },
    ];
    let read = 0;
    const gateway = {
      counters: async () => null,
      metrics: async () => pages[read++ % 2] as { text: string; process: string | null },
    };
    const before: CountersReading = { source: "metrics", samples: page(20), process: "0" };
    const after = await readCountersAfter(gateway, "rd", before);
    expect(read).toBe(2);
    expect(stepWindow(before, after, "rd", "cand")).toMatchObject({
      window: { requests: 10 },
      partial: null,
    });
  });

  test("two pages of different processes make no window: empty, partial", () => {
    const step = stepWindow(
      { source: "metrics", samples: page(20), process: "0" },
      { source: "metrics", samples: page(7), process: "1" },
      "rd",
      "cand",
    );
    expect(step.window.requests).toBe(0);
    expect(step.partial).toContain("gateway process 0 before the window and 1 after it");
  });

  test("a single-process gateway's pages (no process header): the difference", () => {
    expect(
      stepWindow(
        { source: "metrics", samples: page(20), process: null },
        { source: "metrics", samples: page(29), process: null },
        "rd",
        "cand",
      ),
    ).toMatchObject({ window: { requests: 9 }, processes: null, partial: null });
  });
});
