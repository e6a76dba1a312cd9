import { beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import type { Role } from "@fig/auth";
import { createOutboxRelay } from "@fig/events";
import { createLogger } from "@fig/service";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { eq } from "drizzle-orm";
import { buildApp as buildReferenceApp } from "../../reference-data/src/app.ts";
import { refCodes, refContexts, refEstablishments, refRules } from "../src/db/schema.ts";
import {
  loadReferenceSnapshot,
  REFERENCE_TABLES,
  type ReferenceSource,
  referenceModelReady,
  syncReferenceData,
} from "../src/domain/reference-model.ts";
import { createReferenceSync } from "../src/events.ts";
import { SEED_DIR, seedRows, silent, until, useValidationApp } from "./helpers.ts";

const t = useValidationApp();
const REFERENCE_MIGRATIONS = fileURLToPath(new URL("../../reference-data/drizzle", import.meta.url));

let ref: TestDatabase;
let source: ReferenceSource;
const seedCounts: Record<string, number> = {};

/** A request to the running reference-data service. */
async function referenceApi(method: string, path: string, role: Role, init: RequestInit = {}) {
  const token = await t.auth.token({ roles: [role], tenant: "fig" });
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return fetch(`${source.url}${path}`, { ...init, method, headers, signal: AbortSignal.timeout(10_000) });
}

async function tableCounts() {
  const db = t.tdb.db;
  return {
    codes: (await db.select().from(refCodes)).length,
    contexts: (await db.select().from(refContexts)).length,
    establishments: (await db.select().from(refEstablishments)).length,
    rules: (await db.select().from(refRules)).length,
  };
}

beforeAll(async () => {
  // reference-data, for real: its own database and migrations, its own app, on a real port.
  ref = await createTestDatabase({ service: "reference-data", migrationsFolder: REFERENCE_MIGRATIONS });
  t.defer(() => ref.drop());
  const app = buildReferenceApp({
    db: ref.db,
    verifier: t.auth.verifier,
    logger: createLogger({ service: "reference-data", level: "silent" }),
  });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  t.defer(() => server.stop(true));
  source = { url: `http://127.0.0.1:${server.port}`, token: await t.auth.token({ roles: ["viewer"] }) };

  // Its seed, imported through its API.
  for (const table of REFERENCE_TABLES) {
    const res = await referenceApi("POST", `/api/${table}/import`, "editor", {
      body: await Bun.file(`${SEED_DIR}/${table}.csv`).text(),
      headers: { "content-type": "text/csv" },
    });
    const body = (await res.json()) as { rows: number; inserted: number };
    expect({ table, status: res.status }).toEqual({ table, status: 200 });
    seedCounts[table] = (await seedRows(table)).length;
    expect(body).toMatchObject({ rows: seedCounts[table], inserted: seedCounts[table] });
  }
}, 30_000);

describe("the read model, seeded from a real reference-data service", () => {
  test("syncReferenceData copies every table: counts equal the seed CSVs, rows equal field by field", async () => {
    expect(await referenceModelReady(t.tdb.db)).toBe(false);
    const counts = await syncReferenceData(t.tdb.db, source);
    expect(counts).toEqual(seedCounts);
    expect(await tableCounts()).toEqual(seedCounts as Awaited<ReturnType<typeof tableCounts>>);
    expect(await referenceModelReady(t.tdb.db)).toBe(true);

    const snapshot = await loadReferenceSnapshot(t.tdb.db);
    for (const row of await seedRows("codes")) {
      expect(snapshot.codes.get(row.code as string) as unknown).toEqual({
        code: row.code,
        tariff_cents: Number(row.tariff_cents),
        place_of_service: row.place_of_service,
        requires_context: row.requires_context === "true",
        max_per_day: row.max_per_day ? Number(row.max_per_day) : null,
        effective_from: row.effective_from,
        effective_to: row.effective_to || null,
        active: row.active === "true",
      });
    }
    for (const row of await seedRows("rules")) {
      expect(snapshot.rules.get(row.id as string) as unknown).toEqual({
        id: row.id,
        severity: row.severity,
        enabled: row.enabled === "true",
        params: JSON.parse(row.params as string),
      });
    }
    for (const row of await seedRows("establishments")) {
      expect(snapshot.establishments.get(row.number as string) as unknown).toEqual({
        number: row.number,
        type: row.type,
        region: row.region,
        active: row.active === "true",
      });
    }
    for (const row of await seedRows("contexts")) {
      expect(snapshot.contexts.get(row.code as string) as unknown).toEqual({
        code: row.code,
        active: row.active === "true",
      });
    }
    // A second sync replaces rather than adds.
    expect(await syncReferenceData(t.tdb.db, source)).toEqual(seedCounts);
    expect(await tableCounts()).toEqual(seedCounts as Awaited<ReturnType<typeof tableCounts>>);
  }, 30_000);

  test("a refused token is an error, and the read model keeps its last copy", async () => {
    const bad = { url: source.url, token: (await t.auth.invalidTokens()).expired };
    await expect(syncReferenceData(t.tdb.db, bad)).rejects.toThrow(/HTTP 401/);
    expect(await tableCounts()).toEqual(seedCounts as Awaited<ReturnType<typeof tableCounts>>);
  });

  test("reference.changed keeps it current: a PATCHed tariff, a new code and a deleted one reach the read model", async () => {
    // The read model starts as main.ts leaves it: one full copy (events then keep it current).
    expect(await syncReferenceData(t.tdb.db, source)).toEqual(seedCounts);
    // reference-data's relay publishes its outbox (the imports, then the writes below) …
    const relay = createOutboxRelay({
      database: ref,
      nats: t.nats,
      namespace: t.namespace,
      logger: silent,
      pollIntervalMs: 50,
    });
    await relay.start();
    t.defer(() => relay.stop());
    // … and the validation side consumes reference.changed with the consumer main.ts starts.
    const consumer = createReferenceSync({
      database: t.tdb,
      nats: t.nats,
      namespace: t.namespace,
      logger: silent,
      source,
    });
    await consumer.start();
    t.defer(() => consumer.stop());

    const [code] = await seedRows("codes");
    const key = code?.code as string;
    const tariff = Number(code?.tariff_cents) + 1234;
    const patched = await referenceApi("PATCH", `/api/codes/${key}`, "editor", {
      body: JSON.stringify({ tariff_cents: tariff }),
      headers: { "content-type": "application/json", "if-match": "*" },
    });
    expect(patched.status).toBe(200);
    const tariffOf = async (c: string) =>
      (await t.tdb.db.select().from(refCodes).where(eq(refCodes.code, c)))[0]?.tariff_cents;
    await until(async () => (await tariffOf(key)) === tariff, {
      timeoutMs: 15_000,
      message: `code ${key} to have tariff ${tariff} in the read model`,
    });

    const created = await referenceApi("POST", "/api/codes", "editor", {
      body: JSON.stringify({
        code: "99901",
        description: "Acte de test",
        category: "test",
        tariff_cents: 4321,
        unit: "acte",
        place_of_service: "both",
        requires_context: false,
        max_per_day: null,
        effective_from: "2020-01-01",
        effective_to: null,
        active: true,
      }),
      headers: { "content-type": "application/json" },
    });
    expect(created.status).toBe(201);
    await until(async () => (await tariffOf("99901")) === 4321, { message: "code 99901 in the read model" });

    const [last] = (await seedRows("codes")).slice(-1);
    const deleted = await referenceApi("DELETE", `/api/codes/${last?.code}`, "admin");
    expect(deleted.status).toBe(204);
    await until(async () => (await tariffOf(last?.code as string)) === undefined, {
      message: `code ${last?.code} gone from the read model`,
    });

    const counts = await tableCounts();
    expect(counts).toEqual({ ...(seedCounts as typeof counts), codes: (seedCounts.codes as number) + 1 - 1 });
    expect(await tariffOf(key)).toBe(tariff);
  }, 45_000);
});
