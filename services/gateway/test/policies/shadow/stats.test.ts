import { describe, expect, test } from "bun:test";
import { createShadowStats } from "../../../src/policies/shadow/stats.ts";

const request = {
  method: "GET",
  url: "http://gateway/api/codes/00103?x=1",
  headers: new Headers({ "x-request-id": "req-1" }),
  body: null,
};
const comparison = (differences: { path: string; primary: unknown; candidate: unknown }[]) => ({
  request,
  primary: "monolith",
  candidate: "reference-data",
  status: { primary: 200, candidate: 200 },
  differences,
});

describe("shadow statistics, without mirroring", () => {
  test("noise learned after a comparison reclassifies it: the mismatch becomes noise-only and its sample goes", () => {
    const stats = createShadowStats({ samplesPerRoute: 5, fieldsPerSample: 5 });
    const route = stats.of("reference-data", "reference-data");
    stats.recordComparison(route, comparison([{ path: "/items/3/at", primary: "a", candidate: "b" }]));
    stats.recordComparison(route, comparison([]));
    const before = stats.report()[0];
    expect(before).toMatchObject({ compared: 2, matches: 1, mismatches: 1, noiseOnly: 0, mismatchRate: 0.5 });
    expect(before?.samples).toHaveLength(1);
    expect(before?.samples[0]).toMatchObject({ request: "/api/codes/00103?x=1", requestId: "req-1" });

    // The primary differed from itself in /items/*/at: that field is noise, for earlier comparisons too.
    stats.recordNoise(route, new Set(["/items/*/at"]));
    const after = stats.report()[0];
    expect(after).toMatchObject({ compared: 2, matches: 1, mismatches: 0, noiseOnly: 1, mismatchRate: 0 });
    expect(after?.samples).toHaveLength(0);
    expect(after?.noise).toEqual({ samples: 1, errors: 0, fields: [{ path: "/items/*/at", count: 1 }] });
  });

  test("samples are bounded per route, newest kept; a large value is clipped to a preview", () => {
    const stats = createShadowStats({ samplesPerRoute: 2, fieldsPerSample: 2 });
    const route = stats.of("r", "c");
    for (let i = 0; i < 3; i++)
      stats.recordComparison(
        route,
        comparison([
          { path: `/n`, primary: i, candidate: i + 1 },
          { path: "/big", primary: "x".repeat(500), candidate: "y" },
          { path: "/extra", primary: undefined, candidate: true },
        ]),
      );
    const [report] = stats.report();
    expect(report?.samples.map((s) => s.fields[0]?.primary)).toEqual([1, 2]);
    expect(report?.samples[0]?.truncated).toBe(true);
    expect(report?.samples[0]?.fields).toHaveLength(2);
    expect(report?.samples[0]?.fields[1]?.primary).toBe(`${"x".repeat(200)}… (500 chars)`);
    expect(report?.mismatches).toBe(3);
  });
});
