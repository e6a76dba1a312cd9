import { afterAll, describe, expect, test } from "bun:test";
import { createShadow } from "../../../src/policies/shadow/mirror.ts";
import { type ShadowReport, ShadowReportSchema } from "../../../src/policies/shadow/report.ts";
import { createSend } from "../../../src/proxy/send.ts";
import { routeTable } from "../../fixtures/dash-routes.ts";
import { bearer, operator, testGateway } from "../../harness.ts";
import { startUpstream } from "../upstream.ts";

// Real upstreams on ports; the full gateway app in process; the validation route shadowed at 100 %.
const monolith = startUpstream();
const validation = startUpstream();
const referenceData = startUpstream();
afterAll(async () => {
  await Promise.all([monolith.stop(), validation.stop(), referenceData.stop()]);
});
const urls = { monolith: monolith.url, referenceData: referenceData.url, validation: validation.url };
const send = createSend(
  new Map([
    ["monolith", monolith.url],
    ["validation", validation.url],
    ["reference-data", referenceData.url],
  ]),
);

function shadowedGateway(options: { noiseShare: number }) {
  const table = routeTable({ urls, perMinute: 1_000_000 });
  const route = table.routes.find((r) => r.id === "validation");
  if (!route) throw new Error("no validation route");
  route.policies.shadow = { percent: 100, candidate: "validation", ignorePaths: ["id", "createdAt"] };
  const shadow = createShadow({ fetch: send, noiseShare: options.noiseShare });
  return { ...testGateway({ urls, table, shadow }), shadow };
}

async function report(g: ReturnType<typeof shadowedGateway>) {
  await g.shadow.drained();
  const response = await g.app.request("/_fig/shadow", { headers: await operator() });
  expect(response.status).toBe(200);
  const body: ShadowReport = ShadowReportSchema.parse(await response.json());
  const route = body.routes.find((r) => r.route === "validation");
  if (!route) throw new Error("no shadow report for the validation route");
  return route;
}

describe("shadow traffic through the gateway", () => {
  test("never alters the client's response or waits for the candidate, and counts mismatches", async () => {
    const runs = {
      id: "r1",
      createdAt: "2025-01-01",
      items: Array.from({ length: 300 }, (_, i) => ({ n: i, total_cents: 100 * i })),
    };
    monolith.handle(() => Response.json(runs, { headers: { "x-upstream-header": "kept" } }));
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    validation.handle(async () => {
      await held;
      return Response.json({
        ...runs,
        id: "r2",
        createdAt: "2025-02-02",
        items: [...runs.items.slice(0, 299), { n: 299, total_cents: 1 }],
      });
    });
    const g = shadowedGateway({ noiseShare: 0 });
    const direct = await (await fetch(`${monolith.url}/api/files`)).text();

    // The candidate is held: the client's answer is complete regardless, byte for byte the monolith's.
    const response = await g.app.request("/api/files", { headers: await bearer() });
    expect(response.status).toBe(200);
    expect(response.headers.get("fig-served-by")).toBe("monolith");
    expect(response.headers.get("x-upstream-header")).toBe("kept");
    expect(await response.text()).toBe(direct);

    release();
    const route = await report(g);
    expect(route).toMatchObject({
      candidate: "validation",
      mirrored: 1,
      compared: 1,
      mismatches: 1,
      matches: 0,
    });
    // id and createdAt differ too, but are ignored; the one real difference is sampled.
    expect(route.samples[0]?.fields).toEqual([
      { path: "/items/299/total_cents", primary: 29900, candidate: 1 },
    ]);
    expect(validation.hits.at(-1)?.headers.get("x-fig-shadow")).toBe("1");
  });

  test("the noise baseline removes a field that changes on every call", async () => {
    let calls = 0;
    monolith.handle(() => Response.json({ code: "A", generatedAt: `t${++calls}` }));
    validation.handle(() => Response.json({ code: "A", generatedAt: `c${Math.random()}` }));
    const noisy = shadowedGateway({ noiseShare: 0 });
    const baseline = shadowedGateway({ noiseShare: 1 });
    for (let i = 0; i < 4; i++) {
      await (await noisy.app.request("/api/files", { headers: await bearer() })).text();
      await (await baseline.app.request("/api/files", { headers: await bearer() })).text();
    }
    expect(await report(noisy)).toMatchObject({ compared: 4, mismatches: 4, mismatchRate: 1 });
    const route = await report(baseline);
    expect(route).toMatchObject({ compared: 4, mismatches: 0, noiseOnly: 4, mismatchRate: 0 });
    expect(route.noise.fields).toEqual([{ path: "/generatedAt", count: 4 }]);
  });

  test("writes are never mirrored", async () => {
    monolith.handle(() => Response.json({ ok: true }, { status: 201 }));
    validation.hits.length = 0;
    const g = shadowedGateway({ noiseShare: 0 });
    const response = await g.app.request("/api/validations", {
      method: "POST",
      headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "text/csv" },
      body: "code;amount\nA;1\n",
    });
    expect(response.status).toBe(201);
    await g.shadow.drained();
    expect(validation.hits).toHaveLength(0);
    expect(g.shadow.snapshot().routes).toEqual([]);
  });
});
