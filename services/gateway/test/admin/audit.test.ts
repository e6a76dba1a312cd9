import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AuditEntry, createAuditRecorder, readChain } from "@fig/audit";
import { buildApp as buildAuditApp } from "@fig/audit-service";
import { createAuditConsumers } from "@fig/audit-service/consumer";
import {
  createNatsClient,
  deadLetterSubject,
  deleteNamespace,
  ensureStreams,
  type NatsClient,
} from "@fig/events";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { adminApiAudit } from "../../src/console/audit.ts";
import { AuditSection } from "../../src/console/sections/audit.tsx";
import { withAudit } from "../../src/state/audited-store.ts";
import { createKvRouteStore, routesBucketName } from "../../src/state/kv-store.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { auth, bearer, OPERATOR_TENANT, operator, silent, testGateway, until } from "../harness.ts";

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
async function auditedGateway({
  natsDown = false,
  auditUrl,
}: {
  natsDown?: boolean;
  auditUrl?: string;
} = {}) {
  const namespace = `gwaudit_${crypto.randomUUID().slice(0, 8)}`;
  namespaces.push(namespace);
  await ensureStreams(await nats.manager(), namespace);
  // The recorder's own view of NATS, which a test can cut while the route store's connection stays up.
  const link = { down: natsDown };
  const recorderNats: NatsClient = {
    ...nats,
    jetstream: () => (link.down ? Promise.reject(new Error("NATS cut by the test")) : nats.jetstream()),
    manager: () => (link.down ? Promise.reject(new Error("NATS cut by the test")) : nats.manager()),
  };
  const recorder = createAuditRecorder({
    nats: recorderNats,
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
  return {
    ...testGateway({ table, store, audit: { url: auditUrl } }),
    recorder,
    namespace,
    startConsumers,
    link,
  };
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
    // The recorder's link to NATS is cut after the KV change and before the publish.
    const gw = await auditedGateway({ natsDown: true });
    const res = await putWeights(gw.app, { monolith: 80, validation: 20 });
    expect(res.status).toBe(200);
    expect(gw.store.get("validation")?.weights).toEqual({ monolith: 80, validation: 20 });
    expect(gw.recorder.pending().map((p) => p.record.kind)).toEqual(["weights"]);

    await gw.startConsumers();
    expect(
      (await entries()).filter((e) => (e.to as { validation?: number } | null)?.validation === 20),
    ).toHaveLength(0);
    // The link comes back: the recorder's background retry publishes it.
    gw.link.down = false;
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

describe("GET /_fig/audit", () => {
  test("operators read the audit service's entries through the gateway, filtered and paged", async () => {
    const service = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: buildAuditApp({
        db: tdb.db,
        verifier: auth.verifier,
        operatorTenant: OPERATOR_TENANT,
        logger: silent,
      }).fetch,
    });
    stops.push(async () => service.stop(true));
    const gw = await auditedGateway({ auditUrl: `http://127.0.0.1:${service.port}` });
    await gw.startConsumers();
    for (const validation of [30, 40]) {
      expect((await putWeights(gw.app, { monolith: 100 - validation, validation })).status).toBe(200);
    }
    const state = await gw.app.request("/_fig/routes/validation/state", {
      method: "PUT",
      headers: { ...(await operator("bob")), "content-type": "application/json" },
      body: JSON.stringify({ state: "inactive", reason: "incident" }),
    });
    expect(state.status).toBe(200);
    await until(
      async () => (await entries()).some((e) => e.kind === "state" && e.actor.sub === "bob"),
      "bob's change appended",
    );

    const read = async (query: string, headers: Record<string, string>) =>
      gw.app.request(`/_fig/audit${query}`, { headers });
    const ops = await operator("olivia");
    const page1 = await read("?route=validation&kind=weights&actor=alice&limit=1", ops);
    expect(page1.status).toBe(200);
    const first = (await page1.json()) as { items: AuditEntry[]; nextCursor: string | null };
    expect(first.items.map((e) => (e.to as { validation: number }).validation)).toEqual([40]);
    const page2 = await read(
      `?route=validation&kind=weights&actor=alice&limit=1&cursor=${first.nextCursor}`,
      ops,
    );
    const second = (await page2.json()) as { items: AuditEntry[] };
    expect(second.items.map((e) => (e.to as { validation: number }).validation)).toEqual([30]);
    const bob = (await (await read("?actor=bob", ops)).json()) as { items: AuditEntry[] };
    expect(bob.items.map((e) => [e.kind, e.reason])).toEqual([["state", "incident"]]);
    expect(await (await gw.app.request("/_fig/audit/verify", { headers: ops })).json()).toMatchObject({
      ok: true,
    });

    // A bad filter is the gateway's own 400; a tenant's admin is refused; no token is 401.
    expect((await read("?from=yesterday", ops)).status).toBe(400);
    expect((await read("", await bearer({ tenant: "acme", roles: ["admin"] }))).status).toBe(403);
    expect((await read("", {})).status).toBe(401);
  });

  test("without an audit service the read is a 503 problem", async () => {
    const gw = testGateway({ audit: { url: "http://127.0.0.1:9" } });
    const res = await gw.app.request("/_fig/audit", { headers: await operator() });
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("problem+json");
  });
});

describe("a dead letter's replay", () => {
  test("is one dlq-replay entry naming who, which letter and where it went, without its payload", async () => {
    const gw = await auditedGateway();
    await gw.startConsumers();
    const js = await nats.jetstream();
    const h = natsHeaders();
    h.set("ce-specversion", "1.0");
    h.set("ce-id", "evt-dead-1");
    h.set("ce-type", "reference.changed");
    h.set("fig-dlq-consumer", "validation-reference-sync");
    h.set("fig-dlq-error", "boom");
    h.set("fig-dlq-deliveries", "5");
    h.set("fig-dlq-subject", `${gw.namespace}.events.reference.changed`);
    const ack = await js.publish(
      deadLetterSubject(gw.namespace, "validation-reference-sync"),
      '{"secret":"tenant data"}',
      {
        headers: h,
      },
    );
    const app = testGateway({
      jobs: {
        nats,
        namespace: gw.namespace,
        queues: [],
        audit: { recorder: gw.recorder, tenant: OPERATOR_TENANT },
      },
    }).app;
    const res = await app.request(`/_fig/dlq/${ack.seq}/replay`, {
      method: "POST",
      headers: await operator("carol"),
    });
    expect(res.status).toBe(200);
    await until(async () => (await entries()).some((e) => e.kind === "dlq-replay"), "the replay appended");
    const replays = (await entries()).filter((e) => e.kind === "dlq-replay");
    expect(replays).toHaveLength(1);
    expect(replays[0]).toMatchObject({
      actor: { sub: "carol", tenant: OPERATOR_TENANT },
      subject: "validation-reference-sync",
      from: { deadLetter: ack.seq, error: "boom", deliveries: 5 },
      to: { subject: `${gw.namespace}.events.reference.changed` },
      data: { eventId: "evt-dead-1", eventType: "reference.changed" },
    });
    expect(JSON.stringify(replays[0])).not.toContain("tenant data");
  });
});

describe("the console's Audit tab", () => {
  test("reads the newest entries through /_fig/audit with the operator's token and shows who, what and why", async () => {
    const service = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: buildAuditApp({
        db: tdb.db,
        verifier: auth.verifier,
        operatorTenant: OPERATOR_TENANT,
        logger: silent,
      }).fetch,
    });
    stops.push(async () => service.stop(true));
    const gw = await auditedGateway({ auditUrl: `http://127.0.0.1:${service.port}` });
    await gw.startConsumers();
    const res = await gw.app.request("/_fig/routes/validation/write-owner", {
      method: "PUT",
      headers: { ...(await operator("erin")), "content-type": "application/json" },
      body: JSON.stringify({ writeOwner: "validation", reason: "verified, flipping" }),
    });
    expect(res.status).toBe(200);
    await until(async () => (await entries()).some((e) => e.actor.sub === "erin"), "erin's change appended");

    const read = adminApiAudit((path, init) => gw.app.request(path, init));
    const { authorization } = await operator("olivia");
    const shown = await read(authorization);
    expect(Array.isArray(shown) && shown[0]).toMatchObject({ kind: "write-owner", actor: { sub: "erin" } });
    const html = String(AuditSection({ entries: shown }));
    expect(html).toContain('data-kind="write-owner"');
    expect(html).toContain("verified, flipping");
    expect(html).toContain("erin");
    // A tenant's admin gets the refusal, not the log.
    const { authorization: tenantAdmin } = await bearer({ tenant: "acme", roles: ["admin"] });
    expect(await read(tenantAdmin)).toMatchObject({ error: expect.stringContaining("403") });
  });
});
