import { describe, expect, test } from "bun:test";
import { routeCountersOf, sumRouteCounters, type UpstreamCounters } from "../../src/admin/route-counters.ts";
import { sumHoldShares } from "../../src/admin/write-hold.ts";
import { createGatewayMetrics } from "../../src/metrics.ts";
import { bearer, operator, testGateway } from "../harness.ts";

// GET /_fig/routes/{id}/counters: the figures promote reads around a step's window, from the same registry as
// /metrics; with N processes, every process's summed (the cluster test runs two real ones).

const counters = (upstream: string, figures: Partial<UpstreamCounters> = {}): UpstreamCounters => ({
  upstream,
  requests: 0,
  serverErrors: 0,
  transportErrors: 0,
  duration: { buckets: [], count: 0, sumSeconds: 0 },
  ...figures,
});

describe("a route's counters", () => {
  test("read from the registry: answers, 5xx among them, attempts without an answer, the histogram", async () => {
    const metrics = createGatewayMetrics();
    metrics.observe("reference-data", "reference-data", "GET", 200, 0.004);
    metrics.observe("reference-data", "reference-data", "GET", 200, 0.02);
    metrics.observe("reference-data", "reference-data", "POST", 503, 0.3);
    metrics.error("reference-data", "reference-data", "timeout");
    metrics.observe("reference-data", "monolith", "GET", 200, 0.001);
    metrics.observe("validation", "reference-data", "GET", 500, 0.001); // another route: left out
    const [monolith, candidate] = await routeCountersOf(metrics.registry, "reference-data");
    expect(monolith).toMatchObject({
      upstream: "monolith",
      requests: 1,
      serverErrors: 0,
      transportErrors: 0,
    });
    expect(candidate).toMatchObject({
      upstream: "reference-data",
      requests: 3,
      serverErrors: 1,
      // The 503 is counted in gateway_upstream_errors_total as http_503 too: not a second failure.
      transportErrors: 1,
      duration: { count: 3 },
    });
    expect(candidate?.duration.sumSeconds).toBeCloseTo(0.324, 6);
    const within = Object.fromEntries(candidate?.duration.buckets.map((b) => [b.le, b.count]) ?? []);
    expect([within[0.001], within[0.005], within[0.025], within[0.25], within[0.5], within[10]]).toEqual([
      0, 1, 2, 2, 3, 3,
    ]);
  });

  test("N processes' counters summed by upstream and bucket bound", () => {
    const a = [
      counters("reference-data", {
        requests: 10,
        serverErrors: 1,
        duration: {
          buckets: [
            { le: 0.01, count: 4 },
            { le: 0.1, count: 10 },
          ],
          count: 10,
          sumSeconds: 0.5,
        },
      }),
    ];
    const b = [
      counters("monolith", { requests: 2 }),
      counters("reference-data", {
        requests: 5,
        transportErrors: 2,
        duration: {
          buckets: [
            { le: 0.01, count: 1 },
            { le: 0.1, count: 5 },
          ],
          count: 5,
          sumSeconds: 0.25,
        },
      }),
    ];
    expect(sumRouteCounters([a, b])).toEqual([
      counters("monolith", { requests: 2 }),
      counters("reference-data", {
        requests: 15,
        serverErrors: 1,
        transportErrors: 2,
        duration: {
          buckets: [
            { le: 0.01, count: 5 },
            { le: 0.1, count: 15 },
          ],
          count: 15,
          sumSeconds: 0.75,
        },
      }),
    ]);
    // The inputs are left as they were (the first share is copied, not added into).
    expect(a[0]?.requests).toBe(10);
  });

  test("a write hold's figures of N processes: counts summed, the longest wait the longest of any", () => {
    expect(
      sumHoldShares([
        { inFlight: 1, stats: { held: 2, released: 2, rejected: 0, longestHeldMs: 40 } },
        { inFlight: 0, stats: { held: 3, released: 2, rejected: 1, longestHeldMs: 90 } },
      ]),
    ).toEqual({ inFlight: 1, stats: { held: 5, released: 4, rejected: 1, longestHeldMs: 90 } });
  });

  test("GET /_fig/routes/{id}/counters of one process: its counters, 1 of 1; an unknown route is 404", async () => {
    const { app } = testGateway({
      send: async (upstream) => Response.json({ upstream }, { status: upstream === "monolith" ? 200 : 502 }),
    });
    const reader = await bearer({ roles: ["viewer"] });
    for (let i = 0; i < 4; i++) {
      const res = await app.request("/api/codes/00103", {
        headers: { ...reader, "x-fig-route": "reference-data" },
      });
      await res.arrayBuffer();
    }
    const res = await app.request("/_fig/routes/reference-data/counters", { headers: await operator() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      route: string;
      upstreams: UpstreamCounters[];
      perProcess: { process: number; pid: number; upstreams: UpstreamCounters[] }[];
      processes: { of: number; answered: number };
    };
    expect(body.processes).toEqual({ of: 1, answered: 1 });
    const seen = body.upstreams.reduce((n, u) => n + u.requests + u.transportErrors, 0);
    expect(seen).toBe(4);
    expect(body.perProcess).toEqual([{ process: 0, pid: process.pid, upstreams: body.upstreams }]);
    const unknown = await app.request("/_fig/routes/nope/counters", { headers: await operator() });
    expect(unknown.status).toBe(404);
  });
});
