import { describe, expect, test } from "bun:test";
import { createMemoryRouteStore } from "../../src/state/memory-store.ts";
import type { RouteStateStore } from "../../src/state/types.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { bearer, operator, testGateway } from "../harness.ts";

// GET /_fig/routes/{id}/write-hold: what a flip's operator (or a test driving a flip) watches while the writes
// are held: the deadline, and each write as it reaches the hold on this replica.
describe("GET /_fig/routes/{id}/write-hold", () => {
  test("shows no hold, then the hold and a write waiting at it, then the release", async () => {
    let forwarded = 0;
    const { app } = testGateway({
      send: async (upstream, request) => {
        if (request.method !== "GET") forwarded++;
        return Response.json({ upstream }, { status: request.method === "POST" ? 201 : 200 });
      },
    });
    const admin = async () => ({ ...(await operator()), "content-type": "application/json" });
    const view = async () => {
      const res = await app.request("/_fig/routes/reference-data/write-hold", { headers: await admin() });
      expect(res.status).toBe(200);
      return (await res.json()) as { until: string | null; stats: { held: number; released: number } };
    };
    expect(await view()).toMatchObject({ until: null, stats: { held: 0, released: 0 } });
    const put = await app.request("/_fig/routes/reference-data/write-hold", {
      method: "PUT",
      headers: await admin(),
      body: JSON.stringify({ holdMs: 30_000, reason: "test flip" }),
    });
    expect(put.status).toBe(200);
    expect((await view()).until).toEqual(expect.any(String));
    const write = app.request("/api/codes", {
      method: "POST",
      headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "application/json" },
      body: JSON.stringify({ code: "91001" }),
    });
    // The write reaches the hold after its admission (its token verified): polled, with a deadline.
    let held = await view();
    for (const deadline = Date.now() + 10_000; held.stats.held === 0; held = await view()) {
      if (Date.now() > deadline) throw new Error("the write was never shown waiting at the hold");
      await Bun.sleep(5);
    }
    expect(held.stats.held).toBe(1);
    expect({ released: held.stats.released, forwarded }).toEqual({ released: 0, forwarded: 0 });
    const release = await app.request("/_fig/routes/reference-data/write-hold", {
      method: "DELETE",
      headers: await admin(),
      body: JSON.stringify({ reason: "done" }),
    });
    expect(release.status).toBe(200);
    expect((await write).status).toBe(201);
    expect(await view()).toMatchObject({ until: null, stats: { held: 1, released: 1 } });
  });

  test("a write that meets the hold while the hold is still being stored counts as this hold's", async () => {
    // The store applies the hold locally, then takes its time (the KV put's ack, the audit record): a write
    // arriving meanwhile is held. A flip counts its held writes as the release's `held` less the PUT's.
    const nowhere = "http://127.0.0.1:9";
    const table = routeTable({
      urls: { monolith: nowhere, referenceData: nowhere, validation: nowhere },
      perMinute: 1_000_000,
    });
    const base = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
    let applied = () => {};
    const holdApplied = new Promise<void>((resolve) => {
      applied = resolve;
    });
    let finish = () => {};
    const stored = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const store: RouteStateStore = {
      ...base,
      async change(id, change, meta) {
        const live = await base.change(id, change, meta);
        if (change.kind === "write-hold" && change.hold) {
          applied();
          await stored;
        }
        return live;
      },
    };
    const { app, writeHolds } = testGateway({
      table,
      store,
      send: async (upstream) => Response.json({ upstream }, { status: 201 }),
    });
    const admin = async () => ({ ...(await operator()), "content-type": "application/json" });
    const put = app.request("/_fig/routes/reference-data/write-hold", {
      method: "PUT",
      headers: await admin(),
      body: JSON.stringify({ holdMs: 30_000, reason: "test flip" }),
    });
    await holdApplied;
    const write = app.request("/api/codes", {
      method: "POST",
      headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "application/json" },
      body: JSON.stringify({ code: "91001" }),
    });
    for (const deadline = Date.now() + 10_000; writeHolds.stats("reference-data").held === 0; ) {
      if (Date.now() > deadline) throw new Error("the write never reached the hold");
      await Bun.sleep(5);
    }
    finish();
    const atHold = (await (await put).json()) as { stats: { held: number } };
    const release = await app.request("/_fig/routes/reference-data/write-hold", {
      method: "DELETE",
      headers: await admin(),
      body: JSON.stringify({ reason: "done" }),
    });
    const released = (await release.json()) as { stats: { held: number } };
    expect((await write).status).toBe(201);
    expect({ atHold: atHold.stats.held, released: released.stats.held }).toEqual({ atHold: 0, released: 1 });
  });

  test("an unknown route is 404", async () => {
    const { app } = testGateway();
    const res = await app.request("/_fig/routes/nope/write-hold", { headers: await operator() });
    expect(res.status).toBe(404);
  });
});
