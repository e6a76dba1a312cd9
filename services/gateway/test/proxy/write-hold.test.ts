import { describe, expect, test } from "bun:test";
import { createMemoryRouteStore } from "../../src/state/memory-store.ts";
import type { RouteStateStore } from "../../src/state/types.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { bearer, ipFromHeader, operator, testGateway } from "../harness.ts";
import { until } from "../policies/upstream.ts";

// The write hold a flip of write ownership uses: held writes are not forwarded until released (then they go to
// the new owner), a hold past its deadline answers 503 + Retry-After without forwarding, and the admin call that
// sets a hold answers only once the writes already forwarded are done.
function gatewayWithLog(block?: () => Promise<void>, store?: RouteStateStore) {
  const sent: { upstream: string; method: string }[] = [];
  const gateway = testGateway({
    ...(store ? { store } : {}),
    clientIp: ipFromHeader,
    send: async (upstream, request) => {
      if (block && request.method !== "GET") await block();
      sent.push({ upstream, method: request.method });
      return Response.json({ upstream }, { status: request.method === "POST" ? 201 : 200 });
    },
  });
  return { ...gateway, sent };
}

const admin = () => operator();
const editor = () => bearer({ roles: ["editor"] });
const code = { code: "91001" };

async function hold(app: ReturnType<typeof testGateway>["app"], holdMs: number) {
  return app.request("/_fig/routes/reference-data/write-hold", {
    method: "PUT",
    headers: { ...(await admin()), "content-type": "application/json" },
    body: JSON.stringify({ holdMs, reason: "test flip" }),
  });
}

describe("write hold", () => {
  test("a held write is not forwarded; released after the owner moved, it goes to the new owner once", async () => {
    const { app, sent, store, writeHolds } = gatewayWithLog();
    expect((await hold(app, 30_000)).status).toBe(200);
    const write = app.request("/api/codes", {
      method: "POST",
      headers: { ...(await editor()), "content-type": "application/json" },
      body: JSON.stringify(code),
    });
    // Reads are never held.
    const read = await app.request("/api/codes", { headers: await editor() });
    expect(read.status).toBe(200);
    const held = () => store.get("reference-data")?.writeHold;
    expect(held()).toBeTruthy();
    // The write reaches the hold after its admission (its token verified): wait for it there.
    await until(() => writeHolds.stats("reference-data").held === 1, "the write held");
    expect(sent.filter((s) => s.method === "POST")).toHaveLength(0);
    await store.change(
      "reference-data",
      { kind: "write-owner", writeOwner: "reference-data" },
      { who: "test", why: null },
    );
    const release = await app.request("/_fig/routes/reference-data/write-hold", {
      method: "DELETE",
      headers: { ...(await admin()), "content-type": "application/json" },
      body: JSON.stringify({ reason: "flipped" }),
    });
    expect(release.status).toBe(200);
    const res = await write;
    expect(res.status).toBe(201);
    expect(res.headers.get("fig-served-by")).toBe("reference-data");
    expect(sent.filter((s) => s.method === "POST")).toEqual([{ upstream: "reference-data", method: "POST" }]);
    const body = (await release.json()) as { stats: { held: number; released: number; rejected: number } };
    expect(body.stats).toMatchObject({ held: 1, rejected: 0 });
    const history = store.get("reference-data")?.history.filter((h) => h.what === "write-hold") ?? [];
    expect(history.map((h) => h.why)).toEqual(["test flip", "flipped"]);
  });

  test("a hold past its deadline answers 503 with Retry-After, and the write was never sent", async () => {
    const { app, sent } = gatewayWithLog();
    expect((await hold(app, 1)).status).toBe(200);
    const res = await app.request("/api/codes", {
      method: "POST",
      headers: { ...(await editor()), "content-type": "application/json" },
      body: JSON.stringify(code),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(sent).toHaveLength(0);
  });

  test("setting a hold answers once the writes forwarded before it were answered", async () => {
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    let entered: () => void = () => {};
    const inUpstream = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const { app } = gatewayWithLog(async () => {
      entered();
      await blocked;
    });
    const order: string[] = [];
    const write = Promise.resolve(
      app.request("/api/codes", {
        method: "POST",
        headers: { ...(await editor()), "content-type": "application/json" },
        body: JSON.stringify(code),
      }),
    ).then((r) => {
      order.push("write answered");
      return r;
    });
    await inUpstream;
    const held = hold(app, 30_000).then(async (r) => {
      order.push("hold answered");
      return (await r.json()) as { drained: boolean; inFlight: number };
    });
    // The write is still inside the upstream: the hold cannot have answered.
    await Bun.sleep(0);
    expect(order).toEqual([]);
    unblock();
    expect((await write).status).toBe(201);
    expect(await held).toMatchObject({ drained: true, inFlight: 0 });
    expect(order).toEqual(["write answered", "hold answered"]);
  });

  test("a write held while the hold waits for those forwarded before it counts as the hold's (release − set)", async () => {
    let unblock: () => void = () => {};
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    let entered: () => void = () => {};
    const inUpstream = new Promise<void>((resolve) => {
      entered = resolve;
    });
    // A held write re-reads the route's state while it waits: those reads show it is inside the hold.
    const table = routeTable({
      urls: {
        monolith: "http://127.0.0.1:9",
        referenceData: "http://127.0.0.1:9",
        validation: "http://127.0.0.1:9",
      },
    });
    const base = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
    let readsWhileHeld = 0;
    const store: RouteStateStore = {
      ...base,
      get(id) {
        const live = base.get(id);
        if (live?.writeHold) readsWhileHeld++;
        return live;
      },
    };
    let first = true;
    const { app } = gatewayWithLog(async () => {
      if (!first) return;
      first = false;
      entered();
      await blocked;
    }, store);
    const post = async () =>
      app.request("/api/codes", {
        method: "POST",
        headers: { ...(await editor()), "content-type": "application/json" },
        body: JSON.stringify(code),
      });
    const forwarded = post();
    await inUpstream;
    const set = hold(app, 30_000);
    for (let i = 0; i < 100 && !store.get("reference-data")?.writeHold; i++) await Bun.sleep(1);
    expect(store.get("reference-data")?.writeHold).toBeTruthy();
    // Arrives while the hold is set and the forwarded write still runs: the set call has not answered yet.
    const before = readsWhileHeld;
    const held = post();
    for (let i = 0; i < 2000 && readsWhileHeld < before + 10; i++) await Bun.sleep(1);
    expect(readsWhileHeld).toBeGreaterThanOrEqual(before + 10);
    unblock();
    expect((await forwarded).status).toBe(201);
    const atSet = ((await (await set).json()) as { stats: { held: number } }).stats.held;
    const release = await app.request("/_fig/routes/reference-data/write-hold", {
      method: "DELETE",
      headers: { ...(await admin()), "content-type": "application/json" },
      body: JSON.stringify({ reason: "done" }),
    });
    const atRelease = ((await release.json()) as { stats: { held: number } }).stats.held;
    expect((await held).status).toBe(201);
    expect(atRelease - atSet).toBe(1);
  });
});
