import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNatsClient, type NatsClient } from "@fig/events";
import { natsServerBinary, TEST_NATS_URL } from "@fig/testing";
import { createKvRouteStore, routesBucketName } from "../../src/state/kv-store.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { bearer, nameSend, operator, silent, testGateway, until } from "../harness.ts";

const NATS_URL = TEST_NATS_URL;
const namespace = `gwtest_${process.pid}_${Date.now().toString(36)}`;
const bucket = routesBucketName(namespace);
const clients: NatsClient[] = [];
const stores: { stop(): Promise<void> }[] = [];
const urls = {
  monolith: "http://127.0.0.1:9",
  referenceData: "http://127.0.0.1:9",
  validation: "http://127.0.0.1:9",
};

function kvGateway(servers = NATS_URL, name = bucket) {
  const nats = createNatsClient({ servers, name: "gateway-test" });
  clients.push(nats);
  const table = routeTable({ urls });
  const store = createKvRouteStore({
    connection: () => nats.connection(),
    bucket: name,
    routes: [table.defaultRoute, ...table.routes],
    logger: silent,
    retryMs: 100,
  });
  stores.push(store);
  return { ...testGateway({ table, store, send: nameSend }), nats };
}

afterAll(async () => {
  for (const store of stores) await store.stop();
  const admin = createNatsClient({ servers: NATS_URL, name: "gateway-test-cleanup" });
  await (await admin.manager()).streams.delete(`KV_${bucket}`).catch(() => {});
  await admin.close();
  for (const client of clients) await client.close().catch(() => {});
});

const put = async (
  app: ReturnType<typeof kvGateway>["app"],
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  app.request(path, {
    method: "PUT",
    headers: {
      ...(await operator("alice")),
      "content-type": "application/json",
      ...headers,
    },
    body: JSON.stringify(body),
  });

describe("route state in NATS KV", () => {
  test("stop() right after start() ends the watch it was still opening (a process stopped as it started)", async () => {
    const { store } = kvGateway(NATS_URL, `${bucket}_quickstop`);
    await store.start();
    const outcome = await Promise.race([
      store.stop().then(() => "stopped"),
      Bun.sleep(5000).then(() => "still running after 5 s"),
    ]);
    expect(outcome).toBe("stopped");
    const admin = createNatsClient({ servers: NATS_URL, name: "gateway-test-cleanup" });
    await (await admin.manager()).streams.delete(`KV_${bucket}_quickstop`).catch(() => {});
    await admin.close();
  });

  test("seeded once; a change through one replica's admin API is applied by another", async () => {
    const a = kvGateway();
    const b = kvGateway();
    await a.store.start();
    await b.store.start();
    await until(() => a.store.health().loaded && b.store.health().loaded, "both replicas loaded");
    expect(a.store.get("validation")?.weights).toEqual({ monolith: 100, validation: 0 });

    const res = await put(a.app, "/_fig/routes/validation/weights", {
      weights: { monolith: 90, validation: 10 },
      reason: "canary step 1",
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(res.headers.get("etag")).toBe(`"${body.revision}"`);
    await until(() => b.store.get("validation")?.weights.validation === 10, "replica b applies the change");

    // A replica that starts later finds the live state, not the seed (create-if-absent).
    const c = kvGateway();
    await c.store.start();
    await until(() => c.store.health().loaded, "replica c loaded");
    expect(c.store.get("validation")?.weights).toEqual({ monolith: 90, validation: 10 });

    const history = await (
      await b.app.request("/_fig/routes/validation/history", { headers: await operator() })
    ).json();
    expect(history.history.at(-1)).toMatchObject({
      who: "alice",
      what: "weights",
      from: { monolith: 100, validation: 0 },
      to: { monolith: 90, validation: 10 },
      why: "canary step 1",
    });
    expect(history.history[0].what).toBe("seed");
  });

  test("optimistic concurrency: a stale If-Match is a 412 and changes nothing", async () => {
    const a = kvGateway();
    await a.store.start();
    await until(() => a.store.health().loaded, "loaded");
    const revision = a.store.get("reference-data")?.revision as number;
    const first = await put(
      a.app,
      "/_fig/routes/reference-data/state",
      { state: "inactive" },
      { "if-match": `"${revision}"` },
    );
    expect(first.status).toBe(200);
    const stale = await put(
      a.app,
      "/_fig/routes/reference-data/state",
      { state: "active" },
      { "if-match": `"${revision}"` },
    );
    expect(stale.status).toBe(412);
    expect(a.store.get("reference-data")?.state).toBe("inactive");
    const owner = await put(a.app, "/_fig/routes/reference-data/write-owner", {
      writeOwner: "reference-data",
      reason: "verified",
    });
    expect(owner.status).toBe(200);
    expect(a.store.get("reference-data")?.history.at(-1)).toMatchObject({
      what: "write-owner",
      to: "reference-data",
    });
  });

  test("bad changes are 400 problems with errors[]; unknown routes 404; non-admins 403", async () => {
    const a = kvGateway();
    await a.store.start();
    await until(() => a.store.health().loaded, "loaded");
    const before = a.store.get("validation")?.revision;
    for (const weights of [
      { monolith: 50, nope: 50 },
      { monolith: 90.5, validation: 9.5 },
      { monolith: 90, validation: 20 },
    ]) {
      const res = await put(a.app, "/_fig/routes/validation/weights", { weights });
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect((await res.json()).errors.length).toBeGreaterThan(0);
    }
    expect(a.store.get("validation")?.revision).toBe(before);
    expect((await put(a.app, "/_fig/routes/nope/weights", { weights: { monolith: 100 } })).status).toBe(404);
    const editor = await a.app.request("/_fig/routes", { headers: await bearer({ roles: ["editor"] }) });
    expect(editor.status).toBe(403);
    expect((await a.app.request("/_fig/routes")).status).toBe(401);
  });
});

describe("NATS outage", () => {
  let server: Bun.Subprocess | undefined;
  const dir = mkdtempSync(join(tmpdir(), "fig-gw-nats-"));
  afterAll(() => {
    server?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  async function freePort() {
    const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const port = probe.port as number;
    probe.stop(true);
    return port;
  }
  async function startNats(port: number) {
    const proc = Bun.spawn([natsServerBinary(), "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir], {
      stdout: "ignore",
      stderr: "ignore",
    });
    const probe = createNatsClient({ servers: `nats://127.0.0.1:${port}`, name: "probe" });
    await until(
      async () =>
        probe.check().then(
          () => true,
          () => false,
        ),
      "own nats-server up",
    );
    await probe.close();
    return proc;
  }

  test("keeps serving the last state through a NATS restart, says so in /ready, and catches up after", async () => {
    const port = await freePort();
    server = await startNats(port);
    const servers = `nats://127.0.0.1:${port}`;
    const a = kvGateway(servers, "outage_routes");
    await a.store.start();
    await until(() => a.store.health().loaded, "loaded");
    expect(
      (await put(a.app, "/_fig/routes/validation/weights", { weights: { monolith: 0, validation: 100 } }))
        .status,
    ).toBe(200);

    server.kill("SIGKILL");
    await server.exited;
    await until(() => a.store.health().staleSince !== null, "stale noticed");
    // Still served by the last state: the candidate, at 100 %.
    const res = await a.app.request("/api/files", { headers: await bearer() });
    expect(res.headers.get("fig-served-by")).toBe("validation");
    const ready = await a.app.request("/ready");
    expect(ready.status).toBe(200);
    expect((await ready.json()).routeState).toStartWith("stale since");
    expect((await put(a.app, "/_fig/routes/validation/weights", { weights: { monolith: 100 } })).status).toBe(
      503,
    );

    server = await startNats(port);
    await until(() => a.store.health().staleSince === null, "fresh again after the restart", 30_000);
    const b = kvGateway(servers, "outage_routes");
    await b.store.start();
    await until(() => b.store.health().loaded, "b loaded");
    expect((await put(b.app, "/_fig/routes/validation/weights", { weights: { monolith: 100 } })).status).toBe(
      200,
    );
    await until(
      () => a.store.get("validation")?.weights.monolith === 100,
      "a applies a change made after the restart",
      30_000,
    );
  });
});
