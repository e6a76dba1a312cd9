import { afterAll, beforeAll, expect } from "bun:test";
import { fileURLToPath } from "node:url";
import type { Role } from "@fig/auth";
import { createLogger, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemCatalog } from "@fig/service";
import { createTestAuth, createTestDatabase, type TestAuth, type TestDatabase } from "@fig/testing";
import { buildApp } from "../src/app.ts";

export const MIGRATIONS = fileURLToPath(new URL("../drizzle", import.meta.url));
export const SEED_DIR = fileURLToPath(new URL("../seed", import.meta.url));

export type Resource = "codes" | "contexts" | "establishments" | "rules";
export type App = ReturnType<typeof buildApp>;
export type Json = Record<string, unknown>;

export type RequestOptions = {
  /** Role of the bearer token; `null` sends no Authorization header. Default admin. */
  as?: Role | null;
  /** A raw bearer token, overriding `as`. */
  token?: string;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
};

export type ReferenceTest = {
  app: App;
  tdb: TestDatabase;
  auth: TestAuth;
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
  importCsv(resource: Resource, csv: BodyInit, options?: RequestOptions): Promise<Response>;
  exportCsv(resource: Resource): Promise<string>;
};

/**
 * One database and one app per test file: registers beforeAll/afterAll and returns an object whose fields are
 * filled before the first test runs. The database is a real Postgres one (`t.tdb.kind`); in-memory PGlite only
 * outside CI when nothing listens, as the file's warning says.
 */
export function useReferenceApp(): ReferenceTest {
  const t = {} as ReferenceTest;
  const tokens = new Map<string, string>();

  async function bearer(options: RequestOptions): Promise<string | undefined> {
    if (options.token !== undefined) return options.token;
    const role = options.as === undefined ? "admin" : options.as;
    if (role === null) return undefined;
    let token = tokens.get(role);
    if (!token) {
      token = await t.auth.token({ roles: [role] });
      tokens.set(role, token);
    }
    return token;
  }

  beforeAll(async () => {
    t.tdb = await createTestDatabase({ service: "reference-data", migrationsFolder: MIGRATIONS });
    t.auth = createTestAuth();
    const logger = createLogger({ service: "reference-data", level: "silent" });
    t.app = buildApp({ db: t.tdb.db, verifier: t.auth.verifier, logger });
    t.request = async (method, path, options = {}) => {
      const headers: Record<string, string> = { ...options.headers };
      const token = await bearer(options);
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      let body = options.body;
      if (options.json !== undefined) {
        body = JSON.stringify(options.json);
        headers["content-type"] ??= "application/json";
      }
      return t.app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
    };
    t.importCsv = (resource, csv, options = {}) =>
      t.request("POST", `/api/${resource}/import`, {
        ...options,
        body: csv,
        headers: { "content-type": "text/csv", ...options.headers },
      });
    t.exportCsv = async (resource) => {
      const res = await t.request("GET", `/api/${resource}/export`, { as: "viewer" });
      expect(res.status).toBe(200);
      return res.text();
    };
  });

  afterAll(async () => {
    await t.tdb?.drop();
  });

  return t;
}

/**
 * Asserts an RFC 9457 problem+json response with the catalog's type and title for `status`, and returns it.
 * `requestId`, when given, must come back as `instance`.
 */
export async function expectProblem(res: Response, status: number, requestId?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  const body = (await res.json()) as {
    type: string;
    title: string;
    status: number;
    detail: string;
    instance: string;
    errors?: { location: string; message: string; line?: number; column?: string | null }[];
    [extension: string]: unknown;
  };
  const entry = Object.entries(problemCatalog).find(([, p]) => p.status === status);
  expect(entry).toBeDefined();
  const [type, { title }] = entry as [string, { title: string }];
  expect(body.type).toBe(`${PROBLEM_TYPE_BASE}${type}`);
  expect(body.title).toBe(title);
  expect(body.status).toBe(status);
  expect(typeof body.detail).toBe("string");
  expect(body.detail.length).toBeGreaterThan(0);
  expect(typeof body.instance).toBe("string");
  if (requestId !== undefined) expect(body.instance).toBe(requestId);
  expect(JSON.stringify(body)).not.toMatch(/\n\s+at |node_modules/);
  return body;
}

/** The `location`s of a problem's `errors[]`. */
export const locationsOf = (problem: { errors?: { location: string }[] }) =>
  (problem.errors ?? []).map((e) => e.location);

/** Walks a list endpoint page by page and returns every item, failing on a repeated key. */
export async function listAll(t: ReferenceTest, path: string, key: string, limit = 500): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  const separator = path.includes("?") ? "&" : "?";
  do {
    const suffix: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
    const res = await t.request("GET", `${path}${separator}limit=${limit}${suffix}`, { as: "viewer" });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: Json[]; nextCursor: string | null };
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  const keys = items.map((item) => item[key]);
  expect(new Set(keys).size).toBe(keys.length);
  return items;
}

export const CODE_HEADER =
  "code,description,category,tariff_cents,unit,place_of_service,requires_context,max_per_day,effective_from,effective_to,active";

/** A valid POST /api/codes body. */
export function codeInput(code: string, overrides: Json = {}): Json {
  return {
    code,
    description: `Code de test ${code}`,
    category: "test",
    tariff_cents: 1000,
    unit: "acte",
    place_of_service: "both",
    requires_context: false,
    max_per_day: null,
    effective_from: "2020-01-01",
    effective_to: null,
    active: true,
    ...overrides,
  };
}

/** One CSV line of a code, in CODE_HEADER order. */
export function codeLine(code: string, overrides: Partial<Record<string, string>> = {}): string {
  const cells: Record<string, string> = {
    code,
    description: `Code importé ${code}`,
    category: "import",
    tariff_cents: "2500",
    unit: "acte",
    place_of_service: "cabinet",
    requires_context: "false",
    max_per_day: "",
    effective_from: "2021-01-01",
    effective_to: "",
    active: "true",
    ...overrides,
  };
  return CODE_HEADER.split(",")
    .map((name) => cells[name] ?? "")
    .join(",");
}
