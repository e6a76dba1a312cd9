import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { encodeCursor } from "@fig/service";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { buildApp as buildMonolith } from "../../../dash/monolith/src/app.ts";
import { validations as monolithRuns } from "../../../dash/monolith/src/db/schema.ts";
import { buildApp as buildValidation } from "../../../dash/validation/src/app.ts";
import {
  files as validationFiles,
  validations as validationRuns,
} from "../../../dash/validation/src/db/schema.ts";
import type { FileStore } from "../../../dash/validation/src/domain/object-store.ts";
import { type Breakers, BrokenCircuitError, createBreakers } from "../../src/policies/breaker.ts";
import { PARTIAL_HEADER } from "../../src/proxy/list-merge.ts";
import { dashUpstreamDocuments } from "../fixtures/dash-routes.ts";
import { auth, bearer, silent, startEchoUpstream, testGateway } from "../harness.ts";

// The gateway in front of the real monolith and validation apps (their buildApp, real Postgres, real sockets):
// GET /api/validations is asked of both and merged newest first, whatever the weights.

type Run = { validationId: string; archived: boolean; timings: { queuedAt: string } };
type Page = { items: Run[]; nextCursor: string | null };

const BASE = Date.parse("2026-12-01T10:00:00.000Z");
const at = (minute: number) => new Date(BASE + minute * 60_000);

let monolithDb: TestDatabase;
let validationDb: TestDatabase;
let monolithServer: ReturnType<typeof Bun.serve>;
let validationServer: ReturnType<typeof Bun.serve>;
const urls = { monolith: "", validation: "", referenceData: "http://127.0.0.1:9" };
/** Each tenant's validation-service file, for runs inserted or created there. */
const fileOf = new Map<string, string>();

beforeAll(async () => {
  [monolithDb, validationDb] = await Promise.all([
    createTestDatabase({
      service: "monolith",
      migrationsFolder: fileURLToPath(new URL("../../../dash/monolith/drizzle", import.meta.url)),
    }),
    createTestDatabase({
      service: "validation",
      migrationsFolder: fileURLToPath(new URL("../../../dash/validation/drizzle", import.meta.url)),
    }),
  ]);
  // No upload happens here: the list and POST /api/validations read only Postgres.
  const noStore = new Proxy({} as FileStore, {
    get() {
      throw new Error("the object store is not used by these tests");
    },
  });
  const monolith = buildMonolith({
    db: monolithDb.db,
    verifier: auth.verifier,
    config: { MAX_UPLOAD_BYTES: 1024 * 1024 },
    logger: silent,
  });
  const validation = buildValidation({
    db: validationDb.db,
    store: noStore,
    verifier: auth.verifier,
    config: { MAX_UPLOAD_BYTES: 1024 * 1024 },
    logger: silent,
  });
  monolithServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: monolith.fetch });
  validationServer = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: validation.fetch });
  urls.monolith = `http://127.0.0.1:${monolithServer.port}`;
  urls.validation = `http://127.0.0.1:${validationServer.port}`;
});

afterAll(async () => {
  monolithServer?.stop(true);
  validationServer?.stop(true);
  await Promise.all([monolithDb?.drop(), validationDb?.drop()]);
});

/** Runs made on the monolith (not archived) at the given minutes after BASE; their ids. */
async function monolithRunsAt(tenant: string, minutes: number[]): Promise<string[]> {
  const rows = minutes.map((m) => ({
    id: crypto.randomUUID(),
    tenant_id: tenant,
    file_id: crypto.randomUUID(),
    status: "completed" as const,
    rows: 10,
    requested_by: "list-merge-test",
    queued_at: at(m),
    started_at: at(m),
    finished_at: at(m),
  }));
  await monolithDb.db.insert(monolithRuns).values(rows);
  return rows.map((r) => r.id);
}

/** Runs made on the validation service at the given minutes after BASE; their ids. */
async function validationRunsAt(tenant: string, minutes: number[]): Promise<string[]> {
  const db = validationDb.db;
  let fileId = fileOf.get(tenant);
  if (!fileId) {
    fileId = crypto.randomUUID();
    fileOf.set(tenant, fileId);
    await db.insert(validationFiles).values({
      id: fileId,
      tenant_id: tenant,
      name: "claims.csv",
      bytes: 100,
      sha256: "0".repeat(64),
      content_type: "text/csv",
      object_name: `${tenant}/${fileId}`,
      uploaded_by: "list-merge-test",
    });
  }
  const rows = minutes.map((m) => ({
    id: crypto.randomUUID(),
    tenant_id: tenant,
    file_id: fileId,
    status: "completed" as const,
    total_bytes: 100,
    processed_bytes: 100,
    rows: 10,
    requested_by: "list-merge-test",
    queued_at: at(m),
  }));
  await db.insert(validationRuns).values(rows);
  return rows.map((r) => r.id);
}

/** Every run of one upstream, read from the app itself page by page (the ground truth of each side). */
async function allOf(base: string, tenant: string): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `&cursor=${cursor}` : "";
    const res = await fetch(`${base}/api/validations?limit=50${query}`, {
      headers: await bearer({ tenant, roles: ["viewer"] }),
    });
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    runs.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return runs;
}

/** Newest first, then the id descending: written apart from the gateway's comparison on purpose. */
const newestFirst = (a: Run, b: Run) =>
  a.timings.queuedAt === b.timings.queuedAt
    ? b.validationId.localeCompare(a.validationId)
    : b.timings.queuedAt.localeCompare(a.timings.queuedAt);

function gatewayAt(validationWeight: number) {
  const gw = testGateway({ urls });
  const ready = gw.store.change(
    "validation",
    { kind: "weights", weights: { monolith: 100 - validationWeight, validation: validationWeight } },
    { who: "list-merge-test", why: null },
  );
  return { ...gw, ready };
}

async function listPage(
  app: ReturnType<typeof testGateway>["app"],
  tenant: string,
  limit: number,
  cursor: string | null,
  headers: Record<string, string> = {},
) {
  const query = `limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`;
  const res = await app.request(`/api/validations?${query}`, {
    headers: { ...(await bearer({ tenant, roles: ["viewer"], sub: `${tenant}-reader` })), ...headers },
  });
  return res;
}

/** Follows nextCursor from `cursor` to the end; the pages. */
async function pagesFrom(
  app: ReturnType<typeof testGateway>["app"],
  tenant: string,
  limit: number,
  cursor: string | null = null,
): Promise<Page[]> {
  const pages: Page[] = [];
  let next = cursor;
  do {
    const res = await listPage(app, tenant, limit, next);
    expect(res.status).toBe(200);
    expect(res.headers.get(PARTIAL_HEADER)).toBeNull();
    const page = (await res.json()) as Page;
    pages.push(page);
    next = page.nextCursor;
    expect(pages.length).toBeLessThan(100); // a cursor that never ends would loop here, not hang
  } while (next);
  return pages;
}

const ids = (runs: Run[]) => runs.map((r) => r.validationId);

describe("GET /api/validations through the gateway: both upstreams, merged", () => {
  test("≥ 3 pages across both apps, newest first, with no duplicates and no gaps; the route at 100 % validation", async () => {
    const tenant = "acme"; // the monolith's 60 archived runs (drizzle/0001_archive.sql) plus runs on both sides
    const onMonolith = await monolithRunsAt(tenant, [0, 2, 4, 6, 8, 10, 11, 12, 20, 21, 22]);
    // Ties on queuedAt with the monolith at minutes 10–12: the id breaks them.
    const onValidation = await validationRunsAt(tenant, [1, 3, 5, 7, 9, 10, 11, 12, 40, 41, 42, 43, 44, 45]);
    const expected = [
      ...(await allOf(urls.monolith, tenant)),
      ...(await allOf(urls.validation, tenant)),
    ].sort(newestFirst);
    expect(expected.length).toBe(60 + onMonolith.length + onValidation.length);

    const { app, ready } = gatewayAt(100);
    await ready;
    const pages = await pagesFrom(app, tenant, 10);
    expect(pages.length).toBe(Math.ceil(expected.length / 10));
    expect(pages.slice(0, -1).every((p) => p.items.length === 10)).toBe(true);
    const merged = pages.flatMap((p) => p.items);
    expect(new Set(ids(merged)).size).toBe(merged.length);
    expect(ids(merged)).toEqual(ids(expected));
    // Pages of the newest block come from validation only, later ones interleave both sides.
    expect(ids(pages[0]?.items ?? []).filter((id) => onValidation.includes(id)).length).toBeGreaterThan(0);
    expect(pages.some((p) => p.items.some((r) => onMonolith.includes(r.validationId)))).toBe(true);

    // The route moved: every run the monolith holds is its read-only archive; the service's own are not.
    for (const run of merged)
      expect({ id: run.validationId, archived: run.archived }).toEqual({
        id: run.validationId,
        archived: !onValidation.includes(run.validationId),
      });
    expect(merged.filter((r) => r.archived).length).toBe(60 + onMonolith.length);
    // Read by id (read fallback finds it on the monolith), a run says what the list says.
    for (const [id, archived] of [
      [onMonolith[0], true],
      [onValidation[0], false],
    ] as const) {
      const one = await app.request(`/api/validations/${id}`, {
        headers: await bearer({ tenant, roles: ["viewer"] }),
      });
      expect(one.status).toBe(200);
      expect(((await one.json()) as Run).archived).toBe(archived);
    }
    // Only the run itself is marked: its findings pass as the monolith wrote them.
    const archivedRun = merged.at(-1) as Run;
    const findings = await app.request(`/api/validations/${archivedRun.validationId}/results?limit=5`, {
      headers: await bearer({ tenant, roles: ["viewer"] }),
    });
    expect(findings.headers.get("fig-served-by")).toBe("monolith");
    const found = (await findings.json()) as { items: Record<string, unknown>[] };
    expect(found.items.length).toBeGreaterThan(0);
    expect(Object.keys(found).sort()).toEqual(["items", "nextCursor"]);
    expect(found.items.some((f) => "archived" in f)).toBe(false);
  });

  test("at 50 %, the monolith's own runs are not archived, its history from before the migration is", async () => {
    const tenant = "acme";
    const { app, ready } = gatewayAt(50);
    await ready;
    const merged = (await pagesFrom(app, tenant, 25)).flatMap((p) => p.items);
    const archive = merged.filter((r) => r.timings.queuedAt < "2026-01-01");
    expect(archive.length).toBe(60);
    expect(archive.every((r) => r.archived)).toBe(true);
    const recent = merged.filter((r) => r.timings.queuedAt >= "2026-01-01");
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.every((r) => !r.archived)).toBe(true);
    const madeOnMonolith = (await allOf(urls.monolith, tenant)).find((r) => !r.archived);
    expect(madeOnMonolith).toBeDefined();
    const one = await app.request(`/api/validations/${madeOnMonolith?.validationId}`, {
      headers: await bearer({ tenant, roles: ["viewer"] }),
    });
    expect(((await one.json()) as Run).archived).toBe(false);
  });

  test("a run created mid-pagination causes no duplicate and no gap in the pages after", async () => {
    const tenant = "fig"; // 60 archived on the monolith, and runs of this test's own
    // The newest 12 are validation's, so after page 1 the monolith has not moved past its first page.
    await validationRunsAt(tenant, [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 5, 7]);
    await monolithRunsAt(tenant, [4, 6, 8]);
    const before = [...(await allOf(urls.monolith, tenant)), ...(await allOf(urls.validation, tenant))].sort(
      newestFirst,
    );
    const { app, ready } = gatewayAt(100);
    await ready;

    const first = (await (await listPage(app, tenant, 10, null)).json()) as Page;
    expect(first.nextCursor).toBeString();
    // A run POSTed through the gateway (the route sends writes to validation) and one made on the monolith.
    const created = await app.request("/api/validations", {
      method: "POST",
      headers: {
        ...(await bearer({ tenant, roles: ["editor"], sub: "fig-writer" })),
        "content-type": "application/json",
      },
      body: JSON.stringify({ fileId: fileOf.get(tenant) }),
    });
    expect(created.status).toBe(202);
    const newOnValidation = ((await created.json()) as { validationId: string }).validationId;
    const [newOnMonolith] = await monolithRunsAt(tenant, [(Date.now() - BASE) / 60_000]);

    const rest = (await pagesFrom(app, tenant, 10, first.nextCursor)).flatMap((p) => p.items);
    const all = [...first.items, ...rest];
    expect(new Set(ids(all)).size).toBe(all.length);
    expect(ids(all)).toEqual(ids(before));
    expect(ids(all)).not.toContain(newOnValidation);
    expect(ids(all)).not.toContain(newOnMonolith);

    // A new first page starts with them.
    const fresh = (await (await listPage(app, tenant, 2, null)).json()) as Page;
    expect(new Set(ids(fresh.items))).toEqual(new Set([newOnValidation, newOnMonolith as string]));
  });

  test("a pinned request (x-fig-route) gets the pinned upstream's list alone", async () => {
    const { app, ready } = gatewayAt(100);
    await ready;
    const res = await app.request("/api/validations?limit=1000", {
      headers: {
        ...(await bearer({ tenant: "acme", roles: ["viewer", "gate"] })),
        "x-fig-route": "monolith",
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("fig-served-by")).toBe("monolith");
    const page = (await res.json()) as Page;
    expect(ids(page.items)).toEqual(ids(await allOf(urls.monolith, "acme")));
  });

  test("a cursor the gateway did not issue is a 400 problem on query.cursor; a bad limit is the upstreams' 400", async () => {
    const { app } = gatewayAt(100);
    const bad = await listPage(app, "acme", 10, "not-a-cursor");
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await bad.json()) as { errors: { location: string }[] };
    expect(problem.errors.map((e) => e.location)).toEqual(["query.cursor"]);
    const limit = await app.request("/api/validations?limit=5000", {
      headers: await bearer({ tenant: "acme", roles: ["viewer"] }),
    });
    expect(limit.status).toBe(400);
    expect(((await limit.json()) as { errors: { location: string }[] }).errors[0]?.location).toBe(
      "query.limit",
    );
    // Well-formed JSON of the wrong shape, and a side's cursor tampered with (that upstream refuses it).
    for (const cursor of [
      encodeCursor({ at: "2026-12-01" }),
      encodeCursor({ at: ["2026-12-01T10:00:00.000Z", crypto.randomUUID()], from: { validation: "forged" } }),
    ]) {
      const res = await listPage(app, "acme", 10, cursor);
      expect({ cursor, status: res.status }).toEqual({ cursor, status: 400 });
      const body = (await res.json()) as { errors: { location: string }[] };
      expect(body.errors.map((e) => e.location)).toEqual(["query.cursor"]);
    }
  });

  test("the gateway's OpenAPI document says the list is merged and declares Fig-Partial", async () => {
    const { app } = testGateway({ urls, upstreamDocuments: () => dashUpstreamDocuments() });
    const doc = (await (await app.request("/openapi.json")).json()) as {
      paths: Record<
        string,
        { get: { description: string; responses: Record<string, { headers?: object }> } }
      >;
    };
    const list = doc.paths["/api/validations"]?.get;
    expect(list?.description).toContain("merged newest first");
    expect(Object.keys(list?.responses["200"]?.headers ?? {})).toEqual(["Fig-Partial"]);
  });
});

describe("one side down", () => {
  /** A URL where nothing listens any more: a server that was started, then stopped. */
  function deadUrl() {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${server.port}`;
    server.stop(true);
    return url;
  }

  test("the monolith down: validation's runs, with Fig-Partial: monolith unavailable", async () => {
    const tenant = "initech";
    const mine = await validationRunsAt(tenant, [1, 2, 3, 4, 5]);
    const gw = testGateway({ urls: { ...urls, monolith: deadUrl() } });
    await gw.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 0, validation: 100 } },
      { who: "list-merge-test", why: null },
    );
    const res = await listPage(gw.app, tenant, 3, null);
    expect(res.status).toBe(200);
    expect(res.headers.get(PARTIAL_HEADER)).toBe("monolith unavailable");
    expect(res.headers.get("fig-served-by")).toBe("validation");
    const page = (await res.json()) as Page;
    expect(ids(page.items)).toEqual(mine.slice(2).reverse());
    // The list goes on with what answers.
    const next = (await (await listPage(gw.app, tenant, 3, page.nextCursor)).json()) as Page;
    expect(ids(next.items)).toEqual(mine.slice(0, 2).reverse());
    expect(next.nextCursor).toBeNull();
  });

  // At 100 % the weights pick validation, whose requests that never reach it may go to the monolith: a side's
  // read must not, or the monolith's runs would be served twice.
  for (const weight of [0, 100])
    test(`validation down at ${weight} %: the monolith's runs once each, archive included, with Fig-Partial: validation unavailable`, async () => {
      const gw = testGateway({ urls: { ...urls, validation: deadUrl() } });
      await gw.store.change(
        "validation",
        { kind: "weights", weights: { monolith: 100 - weight, validation: weight } },
        { who: "list-merge-test", why: null },
      );
      const res = await listPage(gw.app, "acme", 1000, null);
      expect(res.status).toBe(200);
      expect(res.headers.get(PARTIAL_HEADER)).toBe("validation unavailable");
      expect(ids(((await res.json()) as Page).items)).toEqual(ids(await allOf(urls.monolith, "acme")));
    });

  test.each([503, 404])("an upstream answering %d is left out as one that is down", async (status) => {
    const tenant = "initech";
    const failing = startEchoUpstream("monolith", () => Response.json({ status }, { status }));
    try {
      const gw = testGateway({ urls: { ...urls, monolith: failing.url } });
      const res = await listPage(gw.app, tenant, 1000, null);
      expect(res.status).toBe(200);
      expect(res.headers.get(PARTIAL_HEADER)).toBe("monolith unavailable");
      expect(ids(((await res.json()) as Page).items)).toEqual(ids(await allOf(urls.validation, tenant)));
      expect(failing.received.length).toBeGreaterThan(0);
    } finally {
      failing.stop();
    }
  });

  test("a side its breaker refuses is left out, never answered by another upstream in its place", async () => {
    // The proxy chose validation while its breaker was closed; it opens before the list reads that side.
    const real = createBreakers();
    const breakers: Breakers = {
      ...real,
      run: (upstream, fn) =>
        upstream === "validation" ? Promise.reject(new BrokenCircuitError()) : real.run(upstream, fn),
      // The proxy's attempts go through call (run without a closure).
      call: (upstream, fn, a, b, c) =>
        upstream === "validation"
          ? Promise.reject(new BrokenCircuitError())
          : real.call(upstream, fn, a, b, c),
    };
    const gw = testGateway({ urls, breakers });
    await gw.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 0, validation: 100 } },
      { who: "list-merge-test", why: null },
    );
    const res = await listPage(gw.app, "acme", 1000, null);
    expect(res.status).toBe(200);
    expect(res.headers.get(PARTIAL_HEADER)).toBe("validation unavailable");
    const page = (await res.json()) as Page;
    expect(new Set(ids(page.items)).size).toBe(page.items.length);
    expect(ids(page.items)).toEqual(ids(await allOf(urls.monolith, "acme")));
  });

  test("both down: a 502 problem, as for any route whose upstream fails", async () => {
    const gw = testGateway({ urls: { ...urls, monolith: deadUrl(), validation: deadUrl() } });
    const res = await listPage(gw.app, "acme", 10, null);
    expect(res.status).toBe(502);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});

describe("security of the merged list", () => {
  let gateway: ReturnType<typeof gatewayAt>;
  let globexRuns: string[];
  beforeAll(async () => {
    globexRuns = [...(await validationRunsAt("globex", [1, 3])), ...(await monolithRunsAt("globex", [2]))];
    gateway = gatewayAt(50);
    await gateway.ready;
  });

  const cases: { name: string; headers: () => Promise<Record<string, string>>; status: number }[] = [
    { name: "no token", headers: async () => ({}), status: 401 },
    { name: "garbage token", headers: async () => ({ authorization: "Bearer not.a.jwt" }), status: 401 },
    {
      name: "token signed with another key",
      headers: async () => ({ authorization: `Bearer ${(await auth.invalidTokens()).foreignKey}` }),
      status: 401,
    },
    {
      name: "expired token",
      headers: async () => ({ authorization: `Bearer ${(await auth.invalidTokens()).expired}` }),
      status: 401,
    },
    { name: "no role", headers: () => bearer({ tenant: "globex", roles: [] }), status: 403 },
    { name: "viewer", headers: () => bearer({ tenant: "globex", roles: ["viewer"] }), status: 200 },
  ];
  for (const { name, headers, status } of cases)
    test(`${name} → ${status}`, async () => {
      const res = await gateway.app.request("/api/validations", { headers: await headers() });
      expect(res.status).toBe(status);
      if (status !== 200) {
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        expect(await res.text()).not.toContain("validationId");
      }
    });

  test("another tenant sees its own runs from both sides and none of acme's, even with acme's cursor", async () => {
    const globex = (await pagesFrom(gateway.app, "globex", 2)).flatMap((p) => p.items);
    expect(new Set(ids(globex))).toEqual(new Set(globexRuns));
    const acmePage = (await (await listPage(gateway.app, "acme", 5, null)).json()) as Page;
    expect(acmePage.items.length).toBe(5);
    const withAcmeCursor = await listPage(gateway.app, "globex", 1000, acmePage.nextCursor);
    expect(withAcmeCursor.status).toBe(200);
    const seen = ids(((await withAcmeCursor.json()) as Page).items);
    const acme = new Set(
      ids([...(await allOf(urls.monolith, "acme")), ...(await allOf(urls.validation, "acme"))]),
    );
    expect(seen.filter((id) => acme.has(id))).toEqual([]);
  });
});
