import { describe, expect, test } from "bun:test";
import { ConfigError } from "@fig/service";
import {
  mergeShadowReports,
  PROCESS_HEADER,
  processGroup,
  processGroupSubject,
  rateLimitShare,
  withProcessHeader,
} from "../src/cluster-share.ts";
import { loadConfig } from "../src/config.ts";
import { createRateLimiter } from "../src/policies/rate-limit.ts";
import type { ShadowReport, ShadowRouteReport } from "../src/policies/shadow/report.ts";

describe("FIG_GATEWAY_PROCESSES", () => {
  const base = { NODE_ENV: "development", AUTH_DEV_SECRET: "cluster-share-test-secret-0123456789abcdef" };

  test("1 by default (bun run dev keeps one process), process 0 unless told", () => {
    const config = loadConfig(base);
    expect(config.FIG_GATEWAY_PROCESSES).toBe(1);
    expect(config.FIG_GATEWAY_PROCESS_INDEX).toBe(0);
    expect(loadConfig({ ...base, FIG_GATEWAY_PROCESSES: "4" }).FIG_GATEWAY_PROCESSES).toBe(4);
  });

  test("0, a fraction or words are config errors naming the variable", () => {
    for (const value of ["0", "1.5", "many", "65"])
      expect(() => loadConfig({ ...base, FIG_GATEWAY_PROCESSES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, FIG_GATEWAY_PROCESSES: "0" })).toThrow(/FIG_GATEWAY_PROCESSES/);
  });
});

describe("rateLimitShare", () => {
  test("one process keeps the limiter as it is", () => {
    const limiter = createRateLimiter();
    expect(rateLimitShare(limiter, 1)).toBe(limiter);
  });

  test("each of N processes admits ⌊limit ÷ N⌋ and says so in its decisions", () => {
    const share = rateLimitShare(createRateLimiter({ now: () => 0 }), 3);
    const decisions = Array.from({ length: 5 }, () => share.take("r", "alice", 10));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(decisions[0]?.limit).toBe(3);
    // Other consumers and routes have buckets of their own.
    expect(share.take("r", "bob", 10).allowed).toBe(true);
    expect(share.take("s", "alice", 10).allowed).toBe(true);
    expect(share.size()).toBe(3);
  });

  test("a limit below N still admits one per process (the host admits up to N)", () => {
    const share = rateLimitShare(createRateLimiter({ now: () => 0 }), 4);
    expect(share.take("r", "alice", 2)).toMatchObject({ allowed: true, limit: 1 });
    expect(share.take("r", "alice", 2).allowed).toBe(false);
  });

  test("the share refills at its own rate: ⌊limit ÷ N⌋ a minute", () => {
    let now = 0;
    const share = rateLimitShare(createRateLimiter({ now: () => now }), 2);
    for (let i = 0; i < 5; i++) expect(share.take("r", "alice", 10).allowed).toBe(true);
    expect(share.take("r", "alice", 10).allowed).toBe(false);
    now = 11_999; // one token per 12 s at 5 a minute
    expect(share.take("r", "alice", 10).allowed).toBe(false);
    now = 12_000;
    expect(share.take("r", "alice", 10).allowed).toBe(true);
  });
});

describe("withProcessHeader", () => {
  test("names the process on a response, keeping its status, headers and body", async () => {
    const fetch = withProcessHeader(
      async () => new Response("hi", { status: 201, headers: { "x-up": "1" } }),
      1,
    );
    const response = await fetch(new Request("http://gateway/x"));
    expect(response.status).toBe(201);
    expect(response.headers.get(PROCESS_HEADER)).toBe("1");
    expect(response.headers.get("x-up")).toBe("1");
    expect(await response.text()).toBe("hi");
  });

  test("names a redirect too (copied where its headers are immutable)", async () => {
    const redirect = Response.redirect("http://gateway/elsewhere", 302);
    const fetch = withProcessHeader(async () => redirect, 2);
    const response = await fetch(new Request("http://gateway/x"));
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("http://gateway/elsewhere");
    expect(response.headers.get(PROCESS_HEADER)).toBe("2");
  });

  test("passes the server on (the gateway reads the client address from it)", async () => {
    const server = { requestIP: () => ({ address: "198.51.100.7" }) };
    let seen: unknown;
    const fetch = withProcessHeader(async (_request: Request, s?: typeof server) => {
      seen = s;
      return new Response();
    }, 0);
    await fetch(new Request("http://gateway/x"), server);
    expect(seen).toBe(server);
  });
});

/** One process's report of route `reference-data`: `counts` over an empty one. */
function shadowReport(counts: Partial<ShadowRouteReport>, outstanding = 0): ShadowReport {
  return {
    queue: { max: 100, outstanding },
    routes: [
      {
        route: "reference-data",
        candidate: "reference-data",
        mirrored: 0,
        dropped: 0,
        compared: 0,
        matches: 0,
        mismatches: 0,
        noiseOnly: 0,
        mismatchRate: 0,
        candidateErrors: 0,
        bodiesNotCompared: { tooLarge: 0, notJson: 0 },
        noise: { samples: 0, errors: 0, fields: [] },
        samples: [],
        ...counts,
      },
    ],
  };
}

const sample = (at: string) => ({
  at,
  request: "/api/codes/00103",
  primary: "monolith",
  candidate: "reference-data",
  status: { primary: 200, candidate: 200 },
  fields: [{ path: "/upstream", primary: "monolith", candidate: "reference-data" }],
  truncated: false,
});

describe("the shadow report of N processes", () => {
  test("sums the counters, recomputes the rate, adds up noise by field and keeps the latest samples", () => {
    const merged = mergeShadowReports([
      shadowReport(
        {
          mirrored: 10,
          compared: 10,
          matches: 9,
          mismatches: 1,
          mismatchRate: 0.1,
          noise: { samples: 2, errors: 0, fields: [{ path: "/at", count: 2 }] },
          samples: [sample("2026-01-01T00:00:01.000Z"), sample("2026-01-01T00:00:03.000Z")],
        },
        1,
      ),
      shadowReport({
        mirrored: 30,
        compared: 30,
        matches: 27,
        mismatches: 3,
        mismatchRate: 0.1,
        candidateErrors: 2,
        noise: {
          samples: 1,
          errors: 1,
          fields: [
            { path: "/at", count: 1 },
            { path: "/etag", count: 1 },
          ],
        },
        samples: [sample("2026-01-01T00:00:02.000Z")],
      }),
    ]);
    expect(merged.queue).toEqual({ max: 200, outstanding: 1 });
    expect(merged.routes).toHaveLength(1);
    const [route] = merged.routes;
    expect(route).toMatchObject({
      mirrored: 40,
      compared: 40,
      matches: 36,
      mismatches: 4,
      mismatchRate: 0.1,
      candidateErrors: 2,
      noise: {
        samples: 3,
        errors: 1,
        fields: [
          { path: "/at", count: 3 },
          { path: "/etag", count: 1 },
        ],
      },
    });
    expect(route?.samples.map((s) => s.at)).toEqual(["2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"]);
  });

  test("a route only one process has mirrored is in the report as that process has it", () => {
    const merged = mergeShadowReports([
      { queue: { max: 100, outstanding: 0 }, routes: [] },
      shadowReport({ mirrored: 3 }),
    ]);
    expect(merged.routes.map((r) => [r.route, r.mirrored])).toEqual([["reference-data", 3]]);
  });

  test("with NATS unreachable, this process's own share, saying it covers 1 of N", async () => {
    const group = processGroup({
      connection: () => Promise.reject(new Error("NATS down")),
      subject: "t.gateway.host-1",
      role: { processes: 2, index: 0 },
    });
    const own = shadowReport({ mirrored: 5 });
    expect(await group.ask("shadow", "", () => own)).toEqual({
      shares: [own],
      processes: { of: 2, answered: 1 },
    });
  });

  test("process 0's pid names the group: the others (its children) find it as their parent", () => {
    const ids = { pid: 200, ppid: 100, host: "gw.example.com" };
    expect(processGroupSubject("fig", { index: 0 }, { ...ids, pid: 100, ppid: 1 })).toBe(
      "fig.gateway.gw_example_com-100",
    );
    expect(processGroupSubject("fig", { index: 1 }, ids)).toBe("fig.gateway.gw_example_com-100");
  });
});
