/**
 * Executors of the builtin engine against a real Bun.serve upstream that counts requests and the most in
 * flight at once. The assertions are counts, never times: concurrency bounds (at most the VUs the executor
 * may hold), equalities between what the engine counted and what the upstream received, and for the
 * arrival rate the exact number of scheduled starts (every start is run or dropped).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { runBuiltin } from "../src/builtin.ts";
import { startUpstream, type TestUpstream } from "./upstream.ts";

const SCRIPT = fileURLToPath(new URL("./fixtures/executor.js", import.meta.url));
let upstream: TestUpstream;

beforeAll(() => {
  upstream = startUpstream();
});
afterAll(() => upstream.stop());
beforeEach(() => {
  upstream.reset();
  upstream.delayMs = 0;
});

function run(scenario: Record<string, unknown>, thresholds?: Record<string, unknown>) {
  return runBuiltin({
    script: SCRIPT,
    env: {
      BASE_URL: upstream.url,
      SCENARIO: JSON.stringify(scenario),
      ...(thresholds ? { THRESHOLDS: JSON.stringify(thresholds) } : {}),
    },
  });
}

const num = (v: unknown) => v as number;

describe("constant-vus", () => {
  test("exactly `vus` VUs; every iteration's request reached the upstream and was counted once", async () => {
    upstream.delayMs = 20;
    const result = await run({ executor: "constant-vus", vus: 4, duration: "1s" });
    const m = result.summary.metrics;
    expect(upstream.maxInFlight).toBeLessThanOrEqual(4);
    // 20 ms per request for 1 s: four VUs overlap for sure (each waits on the upstream most of the time).
    expect(upstream.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(m.vus_max).toMatchObject({ value: 4, max: 4 });
    expect(num(m.vus?.max)).toBe(4);
    expect(num(m.http_reqs?.count)).toBe(upstream.received);
    expect(num(m.iterations?.count)).toBe(upstream.received);
    expect(upstream.received).toBeGreaterThan(0);
    expect(result.summary.root_group.checks["status 200"]).toMatchObject({
      passes: upstream.received,
      fails: 0,
    });
  });

  test("__VU is 1..vus, distinct per VU, and __ITER counts each VU's iterations from 0", async () => {
    const seen = new Map<string, number[]>();
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const q = new URL(req.url).searchParams;
        const list = seen.get(q.get("vu") as string) ?? [];
        list.push(Number(q.get("iter")));
        seen.set(q.get("vu") as string, list);
        return new Response("ok");
      },
    });
    try {
      await runBuiltin({
        script: SCRIPT,
        env: {
          BASE_URL: `http://127.0.0.1:${server.port}`,
          SCENARIO: JSON.stringify({ executor: "per-vu-iterations", vus: 3, iterations: 4 }),
        },
      });
    } finally {
      await server.stop(true);
    }
    expect([...seen.keys()].sort()).toEqual(["1", "2", "3"]);
    for (const iters of seen.values()) expect(iters).toEqual([0, 1, 2, 3]);
  });
});

describe("ramping-vus", () => {
  test("never more VUs than the highest stage target; vus_max is that target", async () => {
    upstream.delayMs = 10;
    const result = await run({
      executor: "ramping-vus",
      startVUs: 0,
      stages: [
        { duration: "600ms", target: 3 },
        { duration: "400ms", target: 3 },
        { duration: "400ms", target: 0 },
      ],
    });
    const m = result.summary.metrics;
    expect(upstream.maxInFlight).toBeLessThanOrEqual(3);
    expect(num(m.vus_max?.value)).toBe(3);
    expect(num(m.vus?.max)).toBeLessThanOrEqual(3);
    expect(num(m.http_reqs?.count)).toBe(upstream.received);
    expect(upstream.received).toBeGreaterThan(0);
  });
});

describe("constant-arrival-rate", () => {
  test("rate × duration starts, each run or dropped; at most maxVUs in flight", async () => {
    upstream.delayMs = 5;
    // 50/s for 2 s = 100 starts at 0, 20, 40 … 1980 ms. The count is exact whatever the machine's speed:
    // a start that finds no free VU is a dropped iteration instead.
    const result = await run({
      executor: "constant-arrival-rate",
      rate: 50,
      timeUnit: "1s",
      duration: "2s",
      preAllocatedVUs: 2,
      maxVUs: 6,
    });
    const m = result.summary.metrics;
    const iterations = num(m.iterations?.count);
    const dropped = num(m.dropped_iterations?.count ?? 0);
    expect(iterations + dropped).toBe(100);
    expect(iterations).toBe(upstream.received);
    expect(upstream.maxInFlight).toBeLessThanOrEqual(6);
    expect(num(m.vus_max?.max)).toBeLessThanOrEqual(6);
  });

  test("a slow upstream and a small maxVUs: dropped_iterations, never more than maxVUs at once", async () => {
    upstream.delayMs = 250;
    const result = await run(
      { executor: "constant-arrival-rate", rate: 40, duration: "1s", preAllocatedVUs: 1, maxVUs: 2 },
      { dropped_iterations: ["count<1"] },
    );
    const m = result.summary.metrics;
    // 40 starts in 1 s, each holding a VU ≥ 250 ms: two VUs can take at most 2 × (1000/250 + 1) = 10 of them.
    expect(upstream.maxInFlight).toBeLessThanOrEqual(2);
    expect(num(m.iterations?.count)).toBeLessThanOrEqual(10);
    expect(num(m.iterations?.count) + num(m.dropped_iterations?.count)).toBe(40);
    expect(num(m.vus_max?.value)).toBe(2);
    expect(result.outcomes).toEqual([
      expect.objectContaining({ key: "dropped_iterations", ok: false, inconclusive: false }),
    ]);
  });
});

describe("abortOnFail", () => {
  test("a failing threshold with abortOnFail stops the run long before its duration", async () => {
    const aborted = await runBuiltin({
      script: SCRIPT,
      env: {
        BASE_URL: upstream.url,
        TARGET: "flaky",
        SCENARIO: JSON.stringify({ executor: "constant-vus", vus: 2, duration: "120s" }),
        THRESHOLDS: JSON.stringify({
          http_req_failed: [{ threshold: "rate<0.01", abortOnFail: true, delayAbortEval: "1s" }],
        }),
      },
      progressIntervalMs: 200,
    });
    expect(aborted.aborted).toContain("abortOnFail");
    // The run could not stop before delayAbortEval (same clock), and stopped far before its 120 s.
    expect(aborted.durationMs).toBeGreaterThanOrEqual(1000);
    expect(aborted.durationMs).toBeLessThan(60_000);
    expect(aborted.outcomes[0]).toMatchObject({ ok: false, inconclusive: false });
  }, 60_000);
});
