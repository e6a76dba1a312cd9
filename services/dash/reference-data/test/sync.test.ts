import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { codes, referenceSyncHooks } from "@dash/reference";
import {
  applyIncomingChange,
  applyIncomingChanges,
  createDatasyncState,
  createLiveSync,
  createSyncMetrics,
  destroyNamespaceState,
  fetchOwnerTable,
  type LiveSync,
  type ResolvedTable,
  resolveTables,
} from "@fig/datasync";
import type { Database } from "@fig/db";
import { rowsOf } from "@fig/db";
import {
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  type NatsClient,
  type OutboxRelay,
  outbox,
} from "@fig/events";
import { createLogger } from "@fig/service";
import {
  createTestAuth,
  createTestDatabase,
  TEST_AUTH,
  TEST_NATS_URL,
  type TestDatabase,
} from "@fig/testing";
import { eq, sql } from "drizzle-orm";
import { Registry } from "prom-client";
import { buildApp as buildMonolith } from "../../monolith/src/app.ts";
import { seedEmptyReferenceTables } from "../../monolith/src/modules/reference/seed.ts";
import { recordReferenceChanged } from "../src/events.ts";
import { CODE_HEADER, codeInput, codeLine } from "./helpers.ts";
import {
  converged,
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  REFERENCE_ROUTE,
  SEED_DIR,
  uniqueNamespace,
  until,
} from "./sync-helpers.ts";

// The live sync, in process: the monolith (owner) with its outbox relay, reference-data's database, and the
// consumer between them on the real NATS server. Every check compares both databases' checksums.
const silent = createLogger({ service: "sync-test", level: "silent" });
const namespace = uniqueNamespace("sync");
const auth = createTestAuth();
const registry = new Registry();
const metrics = createSyncMetrics(registry);
let mono: TestDatabase;
let ref: TestDatabase;
let nats: NatsClient;
let relay: OutboxRelay;
let sync: LiveSync;
/** codes as route reference-data declares it, with the candidate's columns. */
let codesTable: ResolvedTable;
const hooks = referenceSyncHooks(recordReferenceChanged);
let server: ReturnType<typeof Bun.serve>;
let admin: string;

const monolith = (path: string, init: RequestInit & { json?: unknown } = {}) => {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${admin}`);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  return fetch(`http://127.0.0.1:${server.port}${path}`, {
    ...init,
    headers,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
};

function newSync() {
  const ownerApi = {
    url: `http://127.0.0.1:${server.port}`,
    dev: { secret: TEST_AUTH.secret, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience },
    caller: "sync-test",
  };
  return createLiveSync({
    name: "reference-data-reference-sync",
    origin: "monolith",
    event: REFERENCE_ROUTE.event,
    tables: REFERENCE_ROUTE.tables,
    database: ref,
    nats,
    namespace,
    logger: silent,
    readOwnerTable: (table) => fetchOwnerTable(ownerApi, table),
    ...hooks,
    metrics,
    lagReport: { state: createDatasyncState(nats, namespace), route: "reference-data", everyMs: 50 },
  });
}

beforeAll(async () => {
  mono = await createTestDatabase({
    service: "monolith",
    migrationsFolder: MONOLITH_MIGRATIONS,
    requiresServer: "two databases and a consumer",
  });
  ref = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: REFERENCE_MIGRATIONS,
    requiresServer: "two databases and a consumer",
  });
  [codesTable] = (await resolveTables(
    ref.db,
    REFERENCE_ROUTE.tables.filter((t) => t.name === "codes"),
  )) as [ResolvedTable];
  await seedEmptyReferenceTables(mono.db, SEED_DIR);
  admin = await auth.token({ roles: ["admin"] });
  const app = buildMonolith({
    db: mono.db,
    verifier: auth.verifier,
    config: { MAX_UPLOAD_BYTES: 1 << 22 },
    logger: silent,
  });
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "sync-test" });
  relay = createOutboxRelay({ database: mono, nats, namespace, logger: silent, pollIntervalMs: 50 });
  await relay.start();
  sync = newSync();
  await sync.start();
});

afterAll(async () => {
  await sync?.stop();
  await relay?.stop();
  server?.stop(true);
  await deleteStreams(await nats.manager(), namespace).catch(() => {});
  await destroyNamespaceState(nats, namespace).catch(() => {});
  await nats?.close();
  await mono?.drop();
  await ref?.drop();
});

describe("live sync monolith → reference-data", () => {
  test("the seed and every write reach reference-data with the same rows, versions and write times", async () => {
    expect((await monolith("/api/codes", { method: "POST", json: codeInput("91001") })).status).toBe(201);
    expect((await monolith("/api/codes", { method: "POST", json: codeInput("91002") })).status).toBe(201);
    for (const tariff of [1100, 1200, 1300]) {
      const res = await monolith("/api/codes/91001", {
        method: "PATCH",
        json: { tariff_cents: tariff },
        headers: { "if-match": "*" },
      });
      expect(res.status).toBe(200);
    }
    expect((await monolith("/api/codes/91002", { method: "DELETE" })).status).toBe(204);
    // Deleted then created again: version 1 once more, after a version-1 create of the first life.
    expect(
      (await monolith("/api/codes", { method: "POST", json: codeInput("91002", { tariff_cents: 7 }) }))
        .status,
    ).toBe(201);
    const result = await converged(mono.db, ref.db);
    expect(result.tables.find((t) => t.table === "codes")?.owner.count).toBeGreaterThan(300);
    const [s1] = await ref.db.select().from(codes).where(eq(codes.code, "91001"));
    expect(s1?.version).toBe(4);
    expect(s1?.tariff_cents).toBe(1300);
  });

  test("an import above the size limit is truncated, and the table is re-read from the owner's API", async () => {
    const lines = Array.from({ length: 1200 }, (_, i) => codeLine(String(92000 + i)));
    const res = await monolith("/api/codes/import", {
      method: "POST",
      body: `${CODE_HEADER}\n${lines.join("\n")}\n`,
      headers: { "content-type": "text/csv" },
    });
    expect(res.status).toBe(200);
    const [last] = await mono.db.select().from(outbox).orderBy(sql`${outbox.seq} desc`).limit(1);
    expect(last?.data).toMatchObject({ op: "imported", truncated: true, count: 1200, rows: [] });
    await converged(mono.db, ref.db);
  });

  test("a stopped consumer resumes where it was: nothing applied twice, nothing missed", async () => {
    await sync.stop();
    for (let i = 0; i < 20; i++)
      expect(
        (await monolith("/api/codes", { method: "POST", json: codeInput(String(96000 + i)) })).status,
      ).toBe(201);
    sync = newSync();
    await sync.start();
    await converged(mono.db, ref.db);
    const [events] = rowsOf<{ n: number }>(await mono.db.execute(sql`select count(*)::int as n from outbox`));
    const [applied] = rowsOf<{ n: number }>(await ref.db.execute(sql`select count(*)::int as n from inbox`));
    expect(applied?.n).toBe(events?.n as number);
  });

  test("lag (commit → applied) is a histogram in the service's metrics", async () => {
    const text = await registry.metrics();
    const count = Number(
      /fig_sync_lag_seconds_count\{origin="monolith",table="codes"\} (\d+)/.exec(text)?.[1],
    );
    expect(count).toBeGreaterThan(0);
    // … and p50/p99 in migrate-data's KV for the gateway's GET /_fig/data.
    const report = await until("the lag report in KV", async () => {
      const r = await createDatasyncState(nats, namespace).lag("reference-data");
      return r && r.changes > 0 ? r : undefined;
    });
    expect(report).toMatchObject({ origin: "monolith", consumer: "reference-data-reference-sync" });
    expect(report.p99Ms).toBeGreaterThanOrEqual(report.p50Ms as number);
  });
});

describe("applying changes out of order", () => {
  const row = (tariff: number, version: number) => ({
    ...codeInput("94001", { tariff_cents: tariff }),
    version,
    updated_at: new Date(Date.UTC(2030, 0, 1, 0, 0, version)).toISOString(),
  });
  const apply = (op: "created" | "updated" | "deleted", rows: Record<string, unknown>[], sequence: number) =>
    ref.db.transaction((tx) =>
      applyIncomingChange(
        tx as unknown as Database,
        { origin: "test-origin", table: codesTable, op, rows, sequence, eventTime: new Date() },
        { prepareRow: hooks.prepareRow },
      ),
    );
  const current = async () => (await ref.db.select().from(codes).where(eq(codes.code, "94001")))[0];

  test("a stale or replayed change never overwrites a newer one; a delete is a tombstone; a later re-create wins", async () => {
    expect(await apply("created", [row(100, 1)], 10)).toEqual({ applied: 1, skipped: 0 });
    expect((await apply("updated", [row(300, 3)], 30)).applied).toBe(1);
    // Overtaken by the change at 30 (a redelivery after a nak): skipped.
    expect(await apply("updated", [row(200, 2)], 20)).toEqual({ applied: 0, skipped: 1 });
    // A replay of 30 itself: skipped.
    expect((await apply("updated", [row(300, 3)], 30)).skipped).toBe(1);
    expect((await current())?.tariff_cents).toBe(300);
    expect((await apply("deleted", [row(300, 3)], 40)).applied).toBe(1);
    // The first life's create, redelivered late: the tombstone at 40 keeps the key deleted.
    expect((await apply("created", [row(100, 1)], 10)).skipped).toBe(1);
    expect(await current()).toBeUndefined();
    // Created again after the delete (version 1 again, a later sequence): applied.
    expect((await apply("created", [row(900, 1)], 50)).applied).toBe(1);
    expect((await current())?.tariff_cents).toBe(900);
  });

  test("a delete and a re-create of one key within the same second (same version, other milliseconds) is applied", async () => {
    // The first life applied, then its delete and its re-create in one batch: the re-create differs from the
    // local row only in its fields and in the milliseconds of updated_at (found under load, where the writes of
    // the live-sync test above were batched this way).
    const at = (ms: number) => new Date(Date.UTC(2030, 0, 3, 0, 0, 0, ms)).toISOString();
    const life = (tariff: number, ms: number) => ({
      ...codeInput("94003", { tariff_cents: tariff }),
      version: 1,
      updated_at: at(ms),
    });
    const change = (op: "created" | "deleted", rows: Record<string, unknown>[], sequence: number) => ({
      origin: "test-origin",
      table: codesTable,
      op,
      rows,
      sequence,
      eventTime: new Date(),
    });
    const applyBatch = (batch: ReturnType<typeof change>[]) =>
      ref.db.transaction((tx) =>
        applyIncomingChanges(tx as unknown as Database, batch, { prepareRow: hooks.prepareRow }),
      );
    const stored = async () => (await ref.db.select().from(codes).where(eq(codes.code, "94003")))[0];
    expect(await applyBatch([change("created", [life(1000, 313)], 210)])).toEqual({ applied: 1, skipped: 0 });
    expect(
      await applyBatch([change("deleted", [life(1000, 313)], 220), change("created", [life(7, 670)], 230)]),
    ).toEqual({ applied: 1, skipped: 1 });
    expect(await stored()).toMatchObject({ tariff_cents: 7, version: 1 });
    expect((await stored())?.updated_at.toISOString()).toBe(at(670));
  });

  test("several changes of one key in one batch: the highest sequence wins, whatever the order; a replay of the batch changes nothing", async () => {
    const key = (tariff: number, version: number) => ({
      ...codeInput("94002", { tariff_cents: tariff }),
      version,
      updated_at: new Date(Date.UTC(2030, 0, 2, 0, 0, version)).toISOString(),
    });
    const change = (
      op: "created" | "updated" | "deleted",
      rows: Record<string, unknown>[],
      sequence: number,
    ) => ({
      origin: "test-origin",
      table: codesTable,
      op,
      rows,
      sequence,
      eventTime: new Date(),
    });
    const batch = [
      change("created", [key(100, 1)], 110),
      change("updated", [key(400, 4)], 140),
      // Overtaken within the batch: an older change delivered after a newer one.
      change("updated", [key(300, 3)], 130),
      change("updated", [key(200, 2)], 120),
      // 94001's watermark is at 50 (the test above): a change at 45 is stale.
      change("updated", [row(555, 5)], 45),
    ];
    const republished: { op: string; keys: string[] }[] = [];
    const applyBatch = () =>
      ref.db.transaction((tx) =>
        applyIncomingChanges(tx as unknown as Database, batch, {
          prepareRow: hooks.prepareRow,
          republish: async (_tx, c) => {
            republished.push({ op: c.op, keys: c.keys });
          },
        }),
      );
    expect(await applyBatch()).toEqual({ applied: 1, skipped: 4 });
    const [now] = await ref.db.select().from(codes).where(eq(codes.code, "94002"));
    expect(now).toMatchObject({ tariff_cents: 400, version: 4 });
    expect((await current())?.tariff_cents).toBe(900);
    const [mark] = rowsOf<{ sequence: string; version: number }>(
      await ref.db.execute(
        sql`select sequence, version from sync_keys where origin = 'test-origin' and key = '94002'`,
      ),
    );
    expect(mark).toMatchObject({ version: 4 });
    expect(Number(mark?.sequence)).toBe(140);
    expect(republished).toEqual([{ op: "updated", keys: ["94002"] }]);
    // The same batch again (a redelivery): every change is at or below the watermarks.
    expect(await applyBatch()).toEqual({ applied: 0, skipped: 5 });
    // A delete and a re-create of one key in one batch: the later (re-create) wins; then a delete wins.
    const recreate = [change("deleted", [key(400, 4)], 150), change("created", [key(700, 1)], 160)];
    await ref.db.transaction((tx) =>
      applyIncomingChanges(tx as unknown as Database, recreate, { prepareRow: hooks.prepareRow }),
    );
    expect((await ref.db.select().from(codes).where(eq(codes.code, "94002")))[0]?.tariff_cents).toBe(700);
    const gone = [change("created", [key(800, 2)], 170), change("deleted", [key(800, 2)], 180)];
    expect(
      await ref.db.transaction((tx) =>
        applyIncomingChanges(tx as unknown as Database, gone, { prepareRow: hooks.prepareRow }),
      ),
    ).toEqual({
      applied: 1,
      skipped: 1,
    });
    expect(await ref.db.select().from(codes).where(eq(codes.code, "94002"))).toEqual([]);
  });
});
