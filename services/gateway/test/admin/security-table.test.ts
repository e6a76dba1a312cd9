import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRouteDataReader, destroyNamespaceState } from "@fig/datasync";
import { createNatsClient, deleteNamespace, ensureStreams, listDeadLetters } from "@fig/events";
import { createPromotionStore, promotionsBucketName, promotionViews } from "@fig/promote/records";
import { TEST_NATS_URL } from "@fig/testing";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { auth, bearer, OPERATOR_TENANT, operator, testGateway } from "../harness.ts";

// The control plane's security table: every /_fig operation and every console data endpoint, for every kind of
// caller. Only an operator (role operator in the operator tenant) gets past; every refusal leaves the route
// state, its history, the write hold, the dead letters and the promotion records as they were.

const namespace = `sectable${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
const nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-security-table" });
const promotions = createPromotionStore({
  connection: () => nats.connection(),
  bucket: promotionsBucketName(namespace),
});
/**
 * The audit service /_fig/audit forwards to: answers every read, and counts the admin API's rows (the console's
 * Audit tab reads it too, with `limit`, when an operator's console renders: those are not the rows' reads).
 */
let auditCalls = 0;
const g = testGateway({
  audit: {
    url: "http://audit.test",
    fetch: async (request) => {
      if (!new URL(request.url).searchParams.has("limit")) auditCalls++;
      return Response.json({ entries: [], next: null });
    },
  },
  jobs: { nats, namespace, queues: [] },
  promotions: {
    bucket: promotions.bucket,
    list: (route?: string) => promotionViews(promotions, route),
    store: promotions,
  },
  data: createRouteDataReader(nats, namespace),
});
const invalid = await auth.invalidTokens();
/** The tenant whose data the dead letter carries: "same tenant" below. */
const TENANT = "acme";
let letterSeq = 0;

beforeAll(async () => {
  await ensureStreams(await nats.manager(), namespace);
  const h = natsHeaders();
  h.set("ce-specversion", "1.0");
  h.set("ce-id", crypto.randomUUID());
  h.set("ce-type", "reference.changed");
  h.set("tenant", TENANT);
  h.set("fig-dlq-consumer", "validation-reference-sync");
  h.set("fig-dlq-error", "relation codes does not exist");
  h.set("fig-dlq-deliveries", "5");
  h.set("fig-dlq-subject", `${namespace}.events.reference.changed`);
  h.set("fig-dlq-time", new Date().toISOString());
  const js = await nats.jetstream();
  const ack = await js.publish(`${namespace}.dlq.validation-reference-sync`, '{"patient":"secret"}', {
    headers: h,
  });
  letterSeq = ack.seq;
}, 30_000);

afterAll(async () => {
  const jsm = await nats.manager();
  await deleteNamespace(jsm, namespace).catch(() => []);
  await jsm.streams.delete(`KV_${promotions.bucket}`).catch(() => false);
  await destroyNamespaceState(nats, namespace).catch(() => {});
  await nats.close();
});

type Row = {
  /** As the app registers it (Hono's path syntax). */
  route: string;
  /** The concrete request. */
  path: () => string;
  body?: unknown;
  /** What an operator gets: 2xx, or the route's normal answer in this setup (no promotion to pause: 404). */
  operator: number;
};

const json = { "content-type": "application/json" };
const ROWS: Row[] = [
  { route: "GET /_fig/routes", path: () => "/_fig/routes", operator: 200 },
  {
    route: "PUT /_fig/routes/:id/weights",
    path: () => "/_fig/routes/reference-data/weights",
    body: { weights: { monolith: 90, "reference-data": 10 }, reason: "table" },
    operator: 200,
  },
  {
    route: "PUT /_fig/routes/:id/state",
    path: () => "/_fig/routes/reference-data/state",
    body: { state: "inactive" },
    operator: 200,
  },
  {
    route: "PUT /_fig/routes/:id/write-owner",
    path: () => "/_fig/routes/reference-data/write-owner",
    body: { writeOwner: "reference-data" },
    operator: 200,
  },
  { route: "GET /_fig/routes/:id/history", path: () => "/_fig/routes/reference-data/history", operator: 200 },
  {
    route: "GET /_fig/routes/:id/counters",
    path: () => "/_fig/routes/reference-data/counters",
    operator: 200,
  },
  {
    route: "GET /_fig/routes/:id/write-hold",
    path: () => "/_fig/routes/reference-data/write-hold",
    operator: 200,
  },
  {
    route: "PUT /_fig/routes/:id/write-hold",
    path: () => "/_fig/routes/reference-data/write-hold",
    body: { holdMs: 5000 },
    operator: 200,
  },
  {
    route: "DELETE /_fig/routes/:id/write-hold",
    path: () => "/_fig/routes/reference-data/write-hold",
    body: {},
    operator: 200,
  },
  {
    route: "PUT /_fig/routes/:id/shadow",
    path: () => "/_fig/routes/reference-data/shadow",
    body: { percent: 50 },
    operator: 200,
  },
  { route: "GET /_fig/promotions", path: () => "/_fig/promotions", operator: 200 },
  ...(["pause", "resume", "rollback"] as const).map((action) => ({
    route: `POST /_fig/promotions/:route/${action}`,
    path: () => `/_fig/promotions/reference-data/${action}`,
    body: { reason: "table" },
    // No promotion is running: pause and resume have nothing to act on; a rollback still sets the weights.
    operator: action === "rollback" ? 200 : 404,
  })),
  { route: "GET /_fig/shadow", path: () => "/_fig/shadow", operator: 200 },
  { route: "GET /_fig/jobs", path: () => "/_fig/jobs", operator: 200 },
  { route: "GET /_fig/dlq", path: () => "/_fig/dlq", operator: 200 },
  {
    route: "POST /_fig/dlq/:seq/replay",
    path: () => `/_fig/dlq/${letterSeq}/replay`,
    body: {},
    operator: 200,
  },
  { route: "GET /_fig/data", path: () => "/_fig/data", operator: 200 },
  { route: "GET /_fig/audit", path: () => "/_fig/audit", operator: 200 },
  { route: "GET /_fig/audit/verify", path: () => "/_fig/audit/verify", operator: 200 },
  // The console's data: its sections and their live stream (its page and assets hold no data: PUBLIC below).
  { route: "GET /_fig/console/sections/:id", path: () => "/_fig/console/sections/jobs", operator: 200 },
  { route: "GET /_fig/console/events", path: () => "/_fig/console/events", operator: 200 },
];
/** Console routes anyone may fetch: the signed-out shell and its scripts and styles. */
const PUBLIC = new Set(["GET /_fig/console", "GET /_fig/console/assets/:name"]);

type Caller = { name: string; headers: () => Promise<Record<string, string>>; status: 401 | 403 };
const CALLERS: Caller[] = [
  { name: "no token", headers: async () => ({}), status: 401 },
  {
    name: "bad token (malformed)",
    headers: async () => ({ authorization: "Bearer not a jwt" }),
    status: 401,
  },
  {
    name: "bad token (another key)",
    headers: async () => ({ authorization: `Bearer ${invalid.foreignKey}` }),
    status: 401,
  },
  {
    name: "expired token",
    headers: async () => ({ authorization: `Bearer ${invalid.expired}` }),
    status: 401,
  },
  { name: "tenant viewer", headers: () => bearer({ tenant: TENANT, roles: ["viewer"] }), status: 403 },
  { name: "tenant admin", headers: () => bearer({ tenant: TENANT, roles: ["admin"] }), status: 403 },
  {
    name: "admin of another tenant",
    headers: () => bearer({ tenant: "evilcorp", sub: "mallory", roles: ["admin"] }),
    status: 403,
  },
  {
    name: "role operator minted in a customer's tenant",
    headers: () => bearer({ tenant: "evilcorp", sub: "mallory", roles: ["operator", "admin"] }),
    status: 403,
  },
  {
    name: "admin of the operator tenant (no operator role)",
    headers: () => bearer({ tenant: OPERATOR_TENANT, roles: ["admin", "editor", "viewer"] }),
    status: 403,
  },
  {
    name: "a load gate's token (role gate)",
    headers: () => bearer({ tenant: TENANT, roles: ["gate", "editor"] }),
    status: 403,
  },
];

const methodOf = (row: Row) => row.route.split(" ")[0] as string;

async function call(row: Row, headers: Record<string, string>) {
  const init: RequestInit = { method: methodOf(row), headers: { ...headers, ...(row.body ? json : {}) } };
  if (row.body !== undefined) init.body = JSON.stringify(row.body);
  const res = await g.app.request(row.path(), init);
  // The console's stream would run until closed: its status and type are what the table checks.
  if (res.headers.get("content-type")?.startsWith("text/event-stream")) await res.body?.cancel();
  return res;
}

/** Everything a /_fig write could change: each route's live state (weights, state, owner, hold, shadow share,
 * revision and history), the dead letters and the promotion records. */
async function platformState() {
  return JSON.stringify({
    routes: g.store.list(),
    deadLetters: (await listDeadLetters(nats, namespace, 100)).map((d) => [d.seq, d.eventId, d.data]),
    promotions: await promotionViews(promotions),
  });
}

describe("every /_fig route and console endpoint has a row", () => {
  test("the app's /_fig routes are exactly the table's rows and the public console routes", () => {
    const registered = new Set(
      g.app.routes
        .filter((r) => r.path.startsWith("/_fig/") && r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`),
    );
    const rows = new Set(ROWS.map((r) => r.route));
    expect([...registered].filter((r) => !rows.has(r) && !PUBLIC.has(r))).toEqual([]); // a route without a row
    expect([...rows].filter((r) => !registered.has(r))).toEqual([]); // a row without a route
  });

  test("every /_fig operation of the OpenAPI document has a row", async () => {
    const doc = (await (await g.app.request("/openapi.json")).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith("/_fig/"))
      .flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`),
      );
    expect(operations.length).toBeGreaterThan(10);
    const rows = new Set(ROWS.map((r) => r.route));
    expect(operations.filter((op) => !rows.has(op))).toEqual([]);
  });
});

describe("refused callers: 401 or 403, and nothing changes", () => {
  for (const caller of CALLERS) {
    test(`${caller.name} → ${caller.status} on every row`, async () => {
      const before = await platformState();
      const auditBefore = auditCalls;
      const answers: string[] = [];
      for (const row of ROWS) {
        const res = await call(row, await caller.headers());
        answers.push(`${row.route} ${res.status}`);
        if (res.status === caller.status) {
          expect(res.headers.get("content-type")).toContain("application/problem+json");
          const problem = (await res.json()) as { status: number; detail?: string };
          expect(problem.status).toBe(caller.status);
          // No platform data in a refusal: not the dead letter's payload, not a route's state.
          expect(JSON.stringify(problem)).not.toContain("secret");
        }
      }
      expect(answers).toEqual(ROWS.map((r) => `${r.route} ${caller.status}`));
      expect(await platformState()).toBe(before);
      expect(auditCalls).toBe(auditBefore); // refused at the gateway: the audit service never asked
    }, 60_000);
  }

  test("a non-operator's replay of a dead letter that does not exist is 403, not 404: refused before the lookup", async () => {
    const res = await g.app.request("/_fig/dlq/999999/replay", {
      method: "POST",
      headers: await bearer({ tenant: "evilcorp", sub: "mallory", roles: ["admin"] }),
    });
    expect(res.status).toBe(403);
    const asOperator = await g.app.request("/_fig/dlq/999999/replay", {
      method: "POST",
      headers: await operator(),
    });
    expect(asOperator.status).toBe(404);
  });

  test("the console's page and assets hold no data: they answer without a token", async () => {
    expect((await g.app.request("/_fig/console")).status).toBe(200);
    expect((await g.app.request("/_fig/console/assets/console.js")).status).toBe(200);
  });
});

describe("an operator", () => {
  test("gets each row's normal answer, and the writes do change the state (so the refusals above could fail)", async () => {
    const headers = await operator("op-alice");
    for (const row of ROWS) {
      const before = await platformState();
      const res = await call(row, headers);
      expect(`${row.route} ${res.status}`).toBe(`${row.route} ${row.operator}`);
      const after = await platformState();
      if (methodOf(row) !== "GET" && row.operator === 200) expect(after).not.toBe(before);
      if (methodOf(row) === "GET") expect(after).toBe(before);
    }
    const live = g.store.get("reference-data");
    expect(live?.history.at(-1)?.who).toBe("op-alice");
    const weightChanges = live?.history.filter((h) => h.what === "weights" && h.who === "op-alice") ?? [];
    // Set to 10 %, then the rollback's return to the monolith.
    expect(weightChanges.map((h) => (h.to as Record<string, number>)["reference-data"])).toEqual([10, 0]);
    expect(live?.writeOwner).toBe("reference-data");
    expect(live?.state).toBe("inactive");
    expect(auditCalls).toBe(2); // the operator's two audit reads were forwarded
    // The replay took the letter out of the dead-letter stream.
    expect((await listDeadLetters(nats, namespace, 100)).map((d) => d.seq)).not.toContain(letterSeq);
  }, 60_000);

  test("FIG_OPERATOR_TENANT names the operator tenant: another tenant's operator role is refused", async () => {
    const ops = testGateway({ operatorTenant: "ops" });
    const inOps = await bearer({ tenant: "ops", roles: ["operator"] });
    expect((await ops.app.request("/_fig/routes", { headers: inOps })).status).toBe(200);
    expect((await ops.app.request("/_fig/console/sections/map", { headers: inOps })).status).toBe(200);
    expect((await ops.app.request("/_fig/routes", { headers: await operator() })).status).toBe(403);
    expect((await ops.app.request("/_fig/console/sections/map", { headers: await operator() })).status).toBe(
      403,
    );
  });
});
