import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AuditEntry, createAuditRecorder, readChain } from "@fig/audit";
import { createAuditConsumers } from "@fig/audit-service/consumer";
import { createNatsClient, deleteNamespace, ensureStreams, type NatsClient } from "@fig/events";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { withAudit } from "../../src/state/audited-store.ts";
import { createKvRouteStore, routesBucketName } from "../../src/state/kv-store.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { OPERATOR_TENANT, operator, silent, testGateway, until } from "../harness.ts";

const AUDIT_MIGRATIONS = new URL("../../../audit/drizzle", import.meta.url).pathname;
const urls = {
  monolith: "http://127.0.0.1:9",
  referenceData: "http://127.0.0.1:9",
  validation: "http://127.0.0.1:9",
};

let tdb: TestDatabase;
let nats: NatsClient;
const namespaces: string[] = [];
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "gateway-audit", migrationsFolder: AUDIT_MIGRATIONS });
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-audit-test" });
});
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  const jsm = await nats.manager();
  for (const ns of namespaces) await deleteNamespace(jsm, ns);
  await nats.close();
  await tdb.drop();
});

/** A gateway over NATS KV whose store records to `namespace`, and the audit consumers of that namespace. */
async function auditedGateway({ streams = true } = {}) {
  const namespace = `gwaudit_${crypto.randomUUID().slice(0, 8)}`;
  namespaces.push(namespace);
  if (streams) await ensureStreams(await nats.manager(), namespace);
  const recorder = createAuditRecorder({
    nats,
    namespace,
    source: "gateway",
    logger: silent,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const table = routeTable({ urls });
  const kv = createKvRouteStore({
    connection: () => nats.connection(),
    bucket: routesBucketName(namespace),
    routes: [table.defaultRoute, ...table.routes],
    logger: silent,
    retryMs: 100,
  });
  const store = withAudit(kv, { recorder, actorTenant: OPERATOR_TENANT });
  await store.start();
  stops.push(
    () => store.stop(),
    () => recorder.stop(),
  );
  await until(() => store.health().loaded, "the route state loaded");
  const consumers = createAuditConsumers({ database: tdb, nats, namespace, logger: silent });
  const startConsumers = async () => {
    await consumers.start();
    stops.push(() => consumers.stop());
  };
  return { ...testGateway({ table, store }), recorder, namespace, startConsumers };
}

async function entries(): Promise<AuditEntry[]> {
  const all: AuditEntry[] = [];
  for await (const entry of readChain(tdb.db)) all.push(entry);
  return all;
}

async function putWeights(app: ReturnType<typeof testGateway>["app"], weights: unknown, headers = {}) {
  return app.request("/_fig/routes/validation/weights", {
    method: "PUT",
    headers: { ...(await operator("alice")), "content-type": "application/json", ...headers },
    body: JSON.stringify({ weights, reason: "canary step 1" }),
  });
}

describe("the gateway's route changes in the audit log", () => {
  test("a weights change is one entry with who, from, to and why; a refused change is none", async () => {
    const gw = await auditedGateway();
    await gw.startConsumers();
    const res = await putWeights(gw.app, { monolith: 90, validation: 10 });
    expect(res.status).toBe(200);
    const { revision } = (await res.json()) as { revision: number };
    // A stale If-Match is refused (412): nothing changed, so nothing may be recorded.
    const stale = await putWeights(
      gw.app,
      { monolith: 50, validation: 50 },
      { "if-match": `"${revision - 1}"` },
    );
    expect(stale.status).toBe(412);
    // A marker recorded after both: once it is in the log, anything the two requests published is too.
    const marker = crypto.randomUUID();
    await gw.recorder.record({ eventId: marker, actor: { sub: "test", tenant: null }, kind: "state" });
    await until(async () => (await entries()).some((e) => e.eventId === marker), "the marker appended");

    const weights = (await entries()).filter((e) => e.kind === "weights" && e.subject === "validation");
    expect(weights).toHaveLength(1);
    expect(weights[0]).toMatchObject({
      actor: { sub: "alice", tenant: OPERATOR_TENANT },
      from: { monolith: 100, validation: 0 },
      to: { monolith: 90, validation: 10 },
      reason: "canary step 1",
      data: { revision },
    });
    expect(gw.recorder.pending()).toHaveLength(0);
  });

  test("a change whose audit publish fails is made, kept in memory, and appended once JetStream takes it", async () => {
    // No events stream in this namespace yet: the KV change works, the audit publish finds no stream.
    const gw = await auditedGateway({ streams: false });
    const res = await putWeights(gw.app, { monolith: 80, validation: 20 });
    expect(res.status).toBe(200);
    expect(gw.store.get("validation")?.weights).toEqual({ monolith: 80, validation: 20 });
    expect(gw.recorder.pending().map((p) => p.record.kind)).toEqual(["weights"]);

    // The consumers create the stream as they start; the recorder's background retry then publishes.
    await gw.startConsumers();
    await until(async () => gw.recorder.pending().length === 0, "the pending entry published", 30_000);
    await until(
      async () =>
        (await entries()).some(
          (e) =>
            e.eventId.startsWith("gateway:route:validation:") &&
            e.to !== null &&
            (e.to as { validation?: number }).validation === 20,
        ),
      "the entry appended",
      30_000,
    );
    const appended = (await entries()).filter(
      (e) => (e.to as { validation?: number } | null)?.validation === 20,
    );
    expect(appended).toHaveLength(1);
    expect(appended[0]).toMatchObject({ kind: "weights", actor: { sub: "alice" }, reason: "canary step 1" });
  });
});
