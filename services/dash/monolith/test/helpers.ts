import { afterAll, beforeAll } from "bun:test";
import { fileURLToPath } from "node:url";
import { generateClaims, referenceSnapshotFromCsv } from "@dash/billing";
import type { Role } from "@fig/auth";
import { createLogger } from "@fig/service";
import { createTestAuth, createTestDatabase, type TestAuth, type TestDatabase } from "@fig/testing";
import { buildApp } from "../src/app.ts";
import { seedEmptyReferenceTables } from "../src/modules/reference/seed.ts";

export const MIGRATIONS = fileURLToPath(new URL("../drizzle", import.meta.url));
export const SEED_DIR = fileURLToPath(new URL("../../reference-data/seed", import.meta.url));
/** Tenants with archived runs (drizzle/0001_archive.sql), 60 each. */
export const ARCHIVE_TENANTS = ["acme", "fig"];

export type Json = Record<string, unknown>;
export type MonolithTest = {
  app: ReturnType<typeof buildApp>;
  tdb: TestDatabase;
  auth: TestAuth;
  /** A request as `tenant` with `roles` (default admin of tenant "acme"); `token: null` sends none. */
  request(
    path: string,
    init?: RequestInit & { tenant?: string; roles?: Role[]; token?: string | null; json?: unknown },
  ): Promise<Response>;
  /** Uploads a CSV as a form (POST /api/files) and returns its fileId. */
  upload(csv: string, options?: { tenant?: string }): Promise<string>;
};

/** One database (migrated, reference tables seeded as at start) and one app per test file. */
export function useMonolithApp(): MonolithTest {
  const t = {} as MonolithTest;
  beforeAll(async () => {
    t.tdb = await createTestDatabase({ service: "monolith", migrationsFolder: MIGRATIONS });
    await seedEmptyReferenceTables(t.tdb.db, SEED_DIR);
    t.auth = createTestAuth();
    t.app = buildApp({
      db: t.tdb.db,
      verifier: t.auth.verifier,
      config: { MAX_UPLOAD_BYTES: 4 * 1024 * 1024 },
      logger: createLogger({ service: "monolith", level: "silent" }),
    });
    t.request = async (path, init = {}) => {
      const { tenant = "acme", roles = ["admin"], token, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      const bearer = token === undefined ? await t.auth.token({ tenant, roles }) : token;
      if (bearer !== null) headers.set("authorization", `Bearer ${bearer}`);
      if (json !== undefined) headers.set("content-type", "application/json");
      return t.app.request(path, {
        ...rest,
        headers,
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    };
    t.upload = async (csv, { tenant } = {}) => {
      const form = new FormData();
      form.append("file", new File([csv], "claims.csv", { type: "text/csv" }));
      const res = await t.request("/api/files", {
        method: "POST",
        body: form,
        ...(tenant ? { tenant } : {}),
      });
      if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { fileId: string }).fileId;
    };
  });
  afterAll(async () => {
    await t.tdb?.drop();
  });
  return t;
}

/** A synthetic claims file (valid against reference-data's seed) and the findings it must produce. */
export async function claimsFile(rows: number, seed = 7) {
  const read = (name: string) => Bun.file(`${SEED_DIR}/${name}.csv`).text();
  const reference = referenceSnapshotFromCsv({
    codes: await read("codes"),
    contexts: await read("contexts"),
    establishments: await read("establishments"),
    rules: await read("rules"),
  });
  const lines = generateClaims({ reference, rows, seed });
  let csv = "";
  for (;;) {
    const next = lines.next();
    if (next.done) return { csv, expected: next.value };
    csv += next.value;
  }
}
