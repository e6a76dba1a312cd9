import { describe, expect, test } from "bun:test";
import { bucketOf, pickByWeight } from "../../src/proxy/pick.ts";
import { bearer, ipFromHeader, nameSend, testGateway } from "../harness.ts";

const anonymousTable = () => {
  const { table } = testGateway();
  // Auth off on the carved-out routes so 10k in-process requests can be 10k consumers (by client address).
  for (const route of table.routes) route.policies.auth = false;
  return table;
};

async function servedBy(
  app: { request: (path: string, init?: RequestInit) => Response | Promise<Response> },
  path: string,
  init: RequestInit = {},
) {
  const res = await app.request(path, init);
  await res.arrayBuffer();
  return { status: res.status, upstream: res.headers.get("fig-served-by") };
}

describe("weights", () => {
  test("90/10 is honoured within ±2 percentage points over 10k consumers", async () => {
    const g = testGateway({ table: anonymousTable(), send: nameSend, clientIp: ipFromHeader });
    await g.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 90, validation: 10 } },
      { who: "t", why: null },
    );
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      // One run's read: weights place it (a list read may be asked of both sides and merged).
      const { upstream } = await servedBy(g.app, "/api/validations/run-1", {
        headers: { "x-test-client": `10.0.${i >> 8}.${i & 255}` },
      });
      counts[upstream ?? "none"] = (counts[upstream ?? "none"] ?? 0) + 1;
    }
    expect(Math.abs((counts.validation ?? 0) / 100 - 10)).toBeLessThanOrEqual(2);
    expect((counts.monolith ?? 0) + (counts.validation ?? 0)).toBe(10_000);
  });

  test("buckets spread evenly: every 10-bucket decile within ±2 pp over 10k ids", () => {
    const deciles = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) deciles[Math.floor(bucketOf(`user-${i}`, "validation") / 10)]++;
    for (const n of deciles) expect(Math.abs(n / 100 - 10)).toBeLessThanOrEqual(2);
  });

  test("pickByWeight fills slices in declared order", () => {
    const order = ["monolith", "validation"];
    expect(pickByWeight(order, { monolith: 90, validation: 10 }, 89)).toBe("monolith");
    expect(pickByWeight(order, { monolith: 90, validation: 10 }, 90)).toBe("validation");
    expect(pickByWeight(order, { monolith: 100, validation: 0 }, 99)).toBe("monolith");
    expect(pickByWeight(order, { monolith: 0, validation: 100 }, 0)).toBe("validation");
  });
});

describe("stickiness", () => {
  test("a consumer keeps its upstream; raising the weight moves monolith users only, never back", async () => {
    const g = testGateway({ table: anonymousTable(), send: nameSend, clientIp: ipFromHeader });
    const set = (v: number) =>
      g.store.change(
        "validation",
        { kind: "weights", weights: { monolith: 100 - v, validation: v } },
        { who: "t", why: null },
      );
    const users = Array.from({ length: 400 }, (_, i) => `192.0.2.${i % 250}-${i}`);
    const where = async () => {
      const out = new Map<string, string | null>();
      for (const u of users)
        out.set(
          u,
          (await servedBy(g.app, "/api/files/file-1", { headers: { "x-test-client": u } })).upstream,
        );
      return out;
    };
    const on = (placement: Map<string, string | null>, upstream: string) =>
      users.filter((u) => placement.get(u) === upstream);
    await set(10);
    const before = await where();
    expect(await where()).toEqual(before); // same answer every time
    // Every user was placed, and some were on validation: the "never back" check below has users to check.
    expect(on(before, "monolith").length + on(before, "validation").length).toBe(users.length);
    const wereOnValidation = on(before, "validation");
    expect(wereOnValidation.length).toBeGreaterThan(0);
    await set(30);
    const after = await where();
    expect(wereOnValidation.map((u) => after.get(u))).toEqual(wereOnValidation.map(() => "validation"));
    // Whoever moved went from the monolith to validation.
    const moved = users.filter((u) => before.get(u) !== after.get(u));
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.map((u) => `${before.get(u)} → ${after.get(u)}`)).toEqual(
      moved.map(() => "monolith → validation"),
    );
  });

  test("a token's sub is the consumer: one user, many addresses, one upstream", async () => {
    const g = testGateway({ send: nameSend, clientIp: ipFromHeader });
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 50, "reference-data": 50 } },
      { who: "t", why: null },
    );
    const headers = await bearer({ sub: "alice" });
    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const { status, upstream } = await servedBy(g.app, "/api/codes", {
        headers: { ...headers, "x-test-client": `203.0.113.${i}` },
      });
      answers.add(`${status} ${upstream}`);
    }
    // One answer, and a proxied one: 30 refusals (no upstream) would also be "one".
    expect([...answers]).toHaveLength(1);
    expect(["200 monolith", "200 reference-data"]).toContain([...answers][0] ?? "");
  });
});

describe("pin header", () => {
  const pinTo = async (roles: ("viewer" | "editor" | "admin" | "gate")[], upstream: string) => {
    const g = testGateway({ send: nameSend });
    return servedBy(g.app, "/api/codes", {
      headers: { ...(await bearer({ roles })), "x-fig-route": upstream },
    });
  };
  test("admin and gate tokens pin an upstream (weight 0 notwithstanding)", async () => {
    expect(await pinTo(["admin"], "reference-data")).toEqual({ status: 200, upstream: "reference-data" });
    expect(await pinTo(["gate"], "reference-data")).toEqual({ status: 200, upstream: "reference-data" });
  });
  test("viewer and editor pins are ignored", async () => {
    expect(await pinTo(["viewer"], "reference-data")).toEqual({ status: 200, upstream: "monolith" });
    expect(await pinTo(["editor"], "reference-data")).toEqual({ status: 200, upstream: "monolith" });
  });
  test("an allowed pin naming no upstream of the route is a 400, not a silent weighted answer", async () => {
    const g = testGateway({ send: nameSend });
    const res = await g.app.request("/api/codes", {
      headers: { ...(await bearer({ roles: ["gate"] })), "x-fig-route": "nope" },
    });
    expect(res.status).toBe(400);
    expect((await res.json()).errors[0].location).toBe("header.x-fig-route");
  });
});

describe("writes, state and the default route", () => {
  test("non-safe methods go to the write owner whatever the weights; reads follow the weights", async () => {
    const g = testGateway({ send: nameSend });
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 0, "reference-data": 100 } },
      { who: "t", why: null },
    );
    const editor = await bearer({ roles: ["editor"] });
    for (const method of ["POST", "PUT", "PATCH", "DELETE"])
      expect((await servedBy(g.app, "/api/codes/1", { method, headers: editor })).upstream).toBe("monolith");
    expect((await servedBy(g.app, "/api/codes/1", { headers: editor })).upstream).toBe("reference-data");
    await g.store.change(
      "reference-data",
      { kind: "write-owner", writeOwner: "reference-data" },
      { who: "t", why: null },
    );
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 100, "reference-data": 0 } },
      { who: "t", why: null },
    );
    expect((await servedBy(g.app, "/api/codes/1", { method: "POST", headers: editor })).upstream).toBe(
      "reference-data",
    );
  });

  test("owner-per-request routes (validations) place writes by weight", async () => {
    const g = testGateway({ send: nameSend });
    await g.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 0, validation: 100 } },
      { who: "t", why: null },
    );
    const editor = await bearer({ roles: ["editor"] });
    expect((await servedBy(g.app, "/api/validations", { method: "POST", headers: editor })).upstream).toBe(
      "validation",
    );
  });

  test("an inactive route sends everything to the monolith", async () => {
    const g = testGateway({ send: nameSend });
    await g.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 0, validation: 100 } },
      { who: "t", why: null },
    );
    await g.store.change("validation", { kind: "state", state: "inactive" }, { who: "t", why: null });
    expect((await servedBy(g.app, "/api/files", { headers: await bearer() })).upstream).toBe("monolith");
  });

  test("anything else under /api goes to the monolith; outside /api is a 404 problem", async () => {
    const g = testGateway({ send: nameSend });
    expect(await servedBy(g.app, "/api/legacy/thing", { headers: await bearer() })).toEqual({
      status: 200,
      upstream: "monolith",
    });
    // Segment boundary: /api/codesx is not the reference-data route.
    const codesx = await servedBy(g.app, "/api/codesx", { headers: await bearer({ roles: ["admin"] }) });
    expect(codesx.upstream).toBe("monolith");
    const res = await g.app.request("/elsewhere");
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });
});
