import { beforeAll, describe, expect, test } from "bun:test";
import type { Role } from "@fig/auth";
import { count } from "drizzle-orm";
import { files, validations } from "../src/db/schema.ts";
import {
  expectProblem,
  generatedClaims,
  json,
  type RunView,
  startPipeline,
  uploadFile,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 4 * 1024 * 1024 });
const OTHER = "globex";
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

/** Ids the table's requests point at: acme's file and completed run. */
const ctx = { fileId: "", runId: "", otherRunId: "", csv: "" };

type Route = {
  name: string;
  /** POST routes need editor; GET routes viewer. */
  write: boolean;
  /** Status when the caller may use it (own tenant's resources). */
  ok: number;
  /** The request, built fresh for each call (bodies are single-use). */
  path: (id: string) => string;
  init: () => RequestInit;
  /** Routes about one run: another tenant's id and an unknown id are 404. */
  perRun: boolean;
};

const get = (): RequestInit => ({ method: "GET" });
const ROUTES: Route[] = [
  {
    name: "POST /api/files",
    write: true,
    ok: 201,
    path: () => "/api/files?name=security.csv",
    init: () => ({ method: "POST", body: ctx.csv, headers: { "content-type": "text/csv" } }),
    perRun: false,
  },
  {
    name: "POST /api/validations",
    write: true,
    ok: 202,
    path: () => "/api/validations",
    init: () => json({ fileId: ctx.fileId }),
    perRun: false,
  },
  {
    name: "GET /api/validations",
    write: false,
    ok: 200,
    path: () => "/api/validations",
    init: get,
    perRun: false,
  },
  {
    name: "GET /api/validations/{id}",
    write: false,
    ok: 200,
    path: (id) => `/api/validations/${id}`,
    init: get,
    perRun: true,
  },
  {
    name: "GET /api/validations/{id}/results",
    write: false,
    ok: 200,
    path: (id) => `/api/validations/${id}/results`,
    init: get,
    perRun: true,
  },
  {
    name: "GET /api/validations/{id}/results.csv",
    write: false,
    ok: 200,
    path: (id) => `/api/validations/${id}/results.csv`,
    init: get,
    perRun: true,
  },
  {
    name: "GET /api/validations/{id}/events",
    write: false,
    ok: 200,
    path: (id) => `/api/validations/${id}/events`,
    init: get,
    perRun: true,
  },
];

function send(
  route: Route,
  options: { tenant?: string; roles?: Role[]; token?: string | null; id?: string },
) {
  const { id = ctx.runId, ...who } = options;
  return t.request(route.path(id), { ...route.init(), ...who });
}

async function rowCounts() {
  const [f] = await t.tdb.db.select({ n: count() }).from(files);
  const [v] = await t.tdb.db.select({ n: count() }).from(validations);
  return { files: f?.n, validations: v?.n };
}

beforeAll(async () => {
  await startPipeline(t);
  ctx.csv = new TextDecoder().decode((await generatedClaims(t, 200)).bytes);
  ctx.fileId = await uploadFile(t, ctx.csv);
  ctx.runId = await validateCsv(t, ctx.csv);
  ctx.otherRunId = await validateCsv(t, ctx.csv, OTHER);
  expect((await waitForRun(t, ctx.runId)).status).toBe("completed");
  expect((await waitForRun(t, ctx.otherRunId, { tenant: OTHER })).status).toBe("completed");
}, 30_000);

describe("authentication: every route", () => {
  for (const route of ROUTES) {
    test(`${route.name}: no token → 401 problem+json with a Bearer challenge`, async () => {
      const res = await send(route, { token: null });
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="fig"');
      await expectProblem(res, 401);
      const basic = await t.request(route.path(ctx.runId), {
        ...route.init(),
        token: null,
        headers: { authorization: "Basic YWRtaW46YWRtaW4=" },
      });
      expect(basic.headers.get("www-authenticate")).toStartWith("Bearer");
      await expectProblem(basic, 401);
    });

    test(`${route.name}: each invalid token → 401 invalid_token`, async () => {
      const before = await rowCounts();
      const invalid = { ...(await t.auth.invalidTokens()), garbage: "not.a.jwt" };
      for (const [kind, token] of Object.entries(invalid)) {
        const res = await send(route, { token });
        expect({ kind, challenge: res.headers.get("www-authenticate") }).toEqual({
          kind,
          challenge: expect.stringContaining('error="invalid_token"'),
        });
        await expectProblem(res, 401);
      }
      expect(await rowCounts()).toEqual(before);
    });
  }
});

describe("roles", () => {
  for (const route of ROUTES.filter((r) => r.write)) {
    test(`${route.name}: viewer → 403 insufficient_scope, nothing stored`, async () => {
      const before = await rowCounts();
      const res = await send(route, { roles: ["viewer"] });
      expect(res.headers.get("www-authenticate")).toBe('Bearer error="insufficient_scope"');
      await expectProblem(res, 403);
      expect(await rowCounts()).toEqual(before);
    });
  }

  for (const route of ROUTES) {
    test(`${route.name}: a token with no role → 403`, async () => {
      await expectProblem(await send(route, { roles: [] }), 403);
    });

    test(`${route.name}: editor and admin → ${route.ok}`, async () => {
      for (const role of ["editor", "admin"] as const) {
        const res = await send(route, { roles: [role] });
        expect({ role, status: res.status }).toEqual({ role, status: route.ok });
        await res.arrayBuffer();
      }
    });
  }

  for (const route of ROUTES.filter((r) => !r.write)) {
    test(`${route.name}: viewer → ${route.ok}${route.perRun ? "; 404 problem for an unknown id" : ""}`, async () => {
      const res = await send(route, { roles: ["viewer"] });
      expect(res.status).toBe(route.ok);
      const body = await res.text();
      if (route.name.endsWith("/events")) {
        expect(res.headers.get("content-type")).toStartWith("text/event-stream");
        // The run is complete: exactly one `completed` event, then the stream closes.
        expect(body.match(/^event: /gm)).toHaveLength(1);
        expect(body).toContain("event: completed");
      } else if (route.name.endsWith(".csv")) {
        expect(res.headers.get("content-type")).toStartWith("text/csv");
        expect(body).toStartWith("line,rule_id,severity,column,message");
      } else {
        expect(res.headers.get("content-type")).toStartWith("application/json");
      }
      if (route.perRun) await expectProblem(await send(route, { roles: ["viewer"], id: UNKNOWN_ID }), 404);
    });
  }
});

describe("tenancy", () => {
  for (const route of ROUTES.filter((r) => r.perRun)) {
    test(`${route.name}: another tenant's run → 404 problem+json (viewer, editor and admin alike)`, async () => {
      for (const role of ["viewer", "editor", "admin"] as const) {
        const res = await send(route, { tenant: OTHER, roles: [role] });
        const problem = await expectProblem(res, 404);
        expect(JSON.stringify(problem)).not.toContain(ctx.fileId);
      }
      // …while its owner sees it.
      const own = await send(route, { tenant: OTHER, roles: ["viewer"], id: ctx.otherRunId });
      expect(own.status).toBe(200);
      await own.arrayBuffer();
    });
  }

  test("POST /api/validations with another tenant's fileId → 404, no run created", async () => {
    const before = await rowCounts();
    await expectProblem(
      await t.request("/api/validations", { ...json({ fileId: ctx.fileId }), tenant: OTHER }),
      404,
    );
    expect(await rowCounts()).toEqual(before);
  });

  test("lists never show another tenant's runs, with or without a status filter, page by page", async () => {
    const idsOf = async (tenant: string, query: string) => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const res = await t.request(`/api/validations?limit=2${query}${suffix}`, {
          tenant,
          roles: ["viewer"],
        });
        expect(res.status).toBe(200);
        const page = (await res.json()) as { items: RunView[]; nextCursor: string | null };
        ids.push(...page.items.map((v) => v.validationId));
        cursor = page.nextCursor;
      } while (cursor);
      return ids;
    };
    // Every run of every tenant, read as the superuser (no RLS).
    const all = await t.tdb.db
      .select({ id: validations.id, tenant: validations.tenant_id, status: validations.status })
      .from(validations);
    const own = (tenant: string, status?: string) =>
      all
        .filter((r) => r.tenant === tenant && (status === undefined || r.status === status))
        .map((r) => r.id)
        .sort();
    for (const tenant of ["acme", OTHER, "nobody"]) {
      expect((await idsOf(tenant, "")).sort()).toEqual(own(tenant));
      expect((await idsOf(tenant, "&status=completed")).sort()).toEqual(own(tenant, "completed"));
    }
    // Both tenants have completed runs, so the filtered comparison above is not between two empty lists.
    expect(own("acme", "completed")).toContain(ctx.runId);
    expect(own(OTHER, "completed")).toContain(ctx.otherRunId);
    expect(await idsOf("nobody", "")).toEqual([]);
  });
});
