import { describe, expect, test } from "bun:test";
import { bearer, operator, testGateway } from "../harness.ts";

/** The /_fig admission: one step per request, whichever admin router answers it. */
describe("/_fig admission", () => {
  test("each /_fig request counts once against the operator's limit, whichever router answers it", async () => {
    const g = testGateway({ perMinute: 10 });
    const headers = await operator("operator-once");
    const remaining: (string | null)[] = [];
    for (const path of [
      "/_fig/routes",
      "/_fig/shadow",
      "/_fig/promotions",
      "/_fig/routes/validation/history",
    ]) {
      const res = await g.app.request(path, { headers });
      expect(res.status).not.toBe(401);
      expect(res.status).not.toBe(403);
      remaining.push(res.headers.get("ratelimit-remaining"));
    }
    expect(remaining).toEqual(["9", "8", "7", "6"]);
  });

  test("past the limit a /_fig request is a 429 problem with Retry-After, and the handler never runs", async () => {
    const g = testGateway({ perMinute: 2 });
    const headers = await operator("operator-limited");
    for (let i = 0; i < 2; i++) expect((await g.app.request("/_fig/routes", { headers })).status).toBe(200);
    const before = g.store.get("validation")?.revision;
    const refused = await g.app.request("/_fig/routes/validation/state", {
      method: "PUT",
      headers: { ...headers, "content-type": "application/json" },
      body: JSON.stringify({ state: "inactive" }),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(g.store.get("validation")?.revision).toBe(before);
    expect(g.store.get("validation")?.state).toBe("active");
  });

  test("roles: only an operator passes (a tenant's viewer not even to /_fig/data); anonymous is 401 before any 404; the console checks its own token", async () => {
    const g = testGateway({ perMinute: 100 });
    const viewer = await bearer({ sub: "viewer-reads", roles: ["viewer"] });
    const data = await g.app.request("/_fig/data", { headers: viewer });
    expect(data.status).toBe(403);
    expect(data.headers.get("ratelimit-remaining")).toBe("99");
    // Past the guard: 404 because this gateway has no data reader, not 403.
    const asOperator = await g.app.request("/_fig/data", { headers: await operator("viewer-reads") });
    expect(asOperator.status).toBe(404);
    expect(asOperator.headers.get("ratelimit-remaining")).toBe("98");
    const unknownAsTenant = await g.app.request("/_fig/no-such-thing", { headers: viewer });
    expect(unknownAsTenant.status).toBe(403);

    const unknown = await g.app.request("/_fig/no-such-thing");
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get("www-authenticate")).toBe('Bearer realm="fig"');
    expect(unknown.headers.get("ratelimit-limit")).toBe("100");

    const page = await g.app.request("/_fig/console");
    expect(page.status).toBe(200);
    expect(page.headers.get("ratelimit-limit")).toBeNull();
    const section = await g.app.request("/_fig/console/sections/map");
    expect(section.status).toBe(401);
    expect(section.headers.get("ratelimit-limit")).toBeNull();
  });
});
