import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  codes,
  codesSpec,
  contexts,
  type RecordChange,
  type ReferenceChange,
  type Row,
  referenceSyncHooks,
} from "@dash/reference";
import type { Database } from "@fig/db";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { eq } from "drizzle-orm";
import {
  type ApplyOutcome,
  applyIncomingChanges,
  applySnapshot,
  type IncomingChange,
  type ResolvedTable,
  syncKeys,
} from "../src/index.ts";
import { codeRow, putRows, REFERENCE_MIGRATIONS, referenceTable, resetSide, tableRows } from "./helpers.ts";

// The live sync's apply, on the receiving side's real database: what the consumer does with each event.
let tdb: TestDatabase;
let codesTable: ResolvedTable;
let contextsTable: ResolvedTable;
const db = () => tdb.db;
/** Dash's sync hooks (search_text derived, reference.changed republished), recording what is republished. */
const recording = (recorded: ReferenceChange[]) => {
  const recordChange: RecordChange = async (_tx, c) => {
    recorded.push(c);
  };
  return referenceSyncHooks(recordChange);
};

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "ds_apply", migrationsFolder: REFERENCE_MIGRATIONS });
  codesTable = await referenceTable(tdb.db, "codes");
  contextsTable = await referenceTable(tdb.db, "contexts");
});
afterAll(() => tdb?.drop());
beforeEach(() => resetSide(db()));

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms));

/** A change from the monolith as its event carries it: the row with its version and write time (ISO). */
function change(op: IncomingChange["op"], sequence: number, row: Row): IncomingChange {
  return {
    origin: "monolith",
    table: codesTable,
    op,
    sequence,
    eventTime: at(sequence),
    rows: [{ ...row, updated_at: (row.updated_at as Date).toISOString() }],
  };
}

/** Applies in one transaction, as the consumer does; `recorded` collects what would be republished. */
async function apply(changes: IncomingChange[], recorded: ReferenceChange[] = []): Promise<ApplyOutcome> {
  return db().transaction((tx) =>
    applyIncomingChanges(tx as unknown as Database, changes, recording(recorded)),
  );
}

const stored = async (key: string) => (await db().select().from(codes).where(eq(codes.code, key)))[0];
const watermark = async (key: string) => (await db().select().from(syncKeys).where(eq(syncKeys.key, key)))[0];

describe("applyIncomingChanges", () => {
  test("a change is applied once: the row is written and the key's watermark records its sequence", async () => {
    const row = codeRow("20000", { version: 1, updated_at: at(1) });
    expect(await apply([change("created", 5, row)])).toEqual({ applied: 1, skipped: 0 });
    expect(await stored("20000")).toMatchObject({ description: row.description, version: 1 });
    expect(await watermark("20000")).toMatchObject({ origin: "monolith", sequence: 5, version: 1 });
  });

  test("the same change again (a redelivery) is skipped: a local change made since is not overwritten", async () => {
    const row = codeRow("20001", { updated_at: at(1) });
    await apply([change("created", 5, row)]);
    await db()
      .update(codes)
      .set({ description: "edited here since", version: 2, updated_at: at(2) })
      .where(eq(codes.code, "20001"));
    const recorded: ReferenceChange[] = [];
    expect(await apply([change("created", 5, row)], recorded)).toEqual({ applied: 0, skipped: 1 });
    expect((await stored("20001"))?.description).toBe("edited here since");
    expect(recorded).toEqual([]);
  });

  test("an older change arriving after a newer one does not overwrite it", async () => {
    const v2 = codeRow("20002", { version: 2, description: "v2", updated_at: at(20) });
    const v1 = codeRow("20002", { version: 1, description: "v1", updated_at: at(10) });
    await apply([change("updated", 20, v2)]);
    expect(await apply([change("created", 10, v1)])).toEqual({ applied: 0, skipped: 1 });
    expect(await stored("20002")).toMatchObject({ description: "v2", version: 2 });
    expect((await watermark("20002"))?.sequence).toBe(20);
  });

  test("of several changes of one key in a batch, the highest sequence wins whatever their order", async () => {
    const changes = [3, 1, 2].map((n) =>
      change("updated", n, codeRow("20003", { version: n, description: `v${n}`, updated_at: at(n) })),
    );
    expect(await apply(changes)).toEqual({ applied: 1, skipped: 2 });
    expect(await stored("20003")).toMatchObject({ description: "v3", version: 3 });
  });

  test("a delete leaves a tombstone: an older create of the key cannot bring it back", async () => {
    const row = codeRow("20004", { version: 1, updated_at: at(1) });
    await apply([change("created", 1, row)]);
    await apply([change("deleted", 3, row)]);
    expect(await stored("20004")).toBeUndefined();
    expect(await watermark("20004")).toMatchObject({ sequence: 3, deleted: true });
    expect(await apply([change("created", 2, row)])).toEqual({ applied: 0, skipped: 1 });
    expect(await stored("20004")).toBeUndefined();
  });

  test("a key never synced (backfilled) keeps its row when the local version is newer", async () => {
    await putRows(db(), codesSpec, [codeRow("20005", { version: 4, description: "local v4" })]);
    const older = codeRow("20005", { version: 3, description: "owner v3", updated_at: at(3) });
    expect(await apply([change("updated", 7, older)])).toEqual({ applied: 0, skipped: 1 });
    expect(await stored("20005")).toMatchObject({ description: "local v4", version: 4 });
    // From now on the key follows the owner's sequence.
    expect((await watermark("20005"))?.sequence).toBe(7);
  });

  test("only what changed is republished; a change equal to the local row (an echo) is not", async () => {
    const row = codeRow("20006", { updated_at: at(6) });
    await putRows(db(), codesSpec, [row]);
    const fresh = codeRow("20007", { updated_at: at(7) });
    const recorded: ReferenceChange[] = [];
    const outcome = await apply([change("created", 8, row), change("created", 9, fresh)], recorded);
    expect(outcome).toEqual({ applied: 1, skipped: 1 });
    expect(recorded.map((c) => [c.spec.resource, c.op, c.keys])).toEqual([["codes", "created", ["20007"]]]);
    expect(recorded[0]?.rows[0]).toMatchObject({ code: "20007", version: 1 });
  });

  test("a row arrives exactly as the owner stored it: version, write time to the ms, search text", async () => {
    const row = codeRow("20008", { version: 9, description: "Accès ÉPIDURAL", updated_at: at(123) });
    await apply([change("updated", 1, row)]);
    expect(await stored("20008")).toMatchObject({
      version: 9,
      updated_at: at(123),
      search_text: "20008 acces epidural",
    });
  });
});

describe("applyIncomingChanges over several tables at once", () => {
  test("one batch of creates, an update and a delete in two tables: every row and watermark lands, per key as if one by one", async () => {
    const doomed = codeRow("22000", { updated_at: at(1) });
    await apply([change("created", 1, doomed)]);
    const context = (version: number, description: string) => ({
      code: "C22",
      description,
      active: true,
      version,
      updated_at: at(version).toISOString(),
    });
    const inContexts = (op: IncomingChange["op"], sequence: number, row: Row): IncomingChange => ({
      origin: "monolith",
      table: contextsTable,
      op,
      sequence,
      eventTime: at(sequence),
      rows: [row],
    });
    const recorded: ReferenceChange[] = [];
    const outcome = await apply(
      [
        change("deleted", 5, doomed),
        inContexts("updated", 8, context(2, "second")),
        change("created", 6, codeRow("22001", { updated_at: at(6) })),
        inContexts("created", 7, context(1, "first")),
      ],
      recorded,
    );
    expect(outcome).toEqual({ applied: 3, skipped: 1 });
    expect(await stored("22000")).toBeUndefined();
    expect(await stored("22001")).toMatchObject({ code: "22001", version: 1 });
    const [ctx] = await db().select().from(contexts).where(eq(contexts.code, "C22"));
    expect(ctx).toMatchObject({ description: "second", version: 2, search_text: expect.any(String) });
    expect(await watermark("22000")).toMatchObject({ sequence: 5, deleted: true });
    expect(await watermark("22001")).toMatchObject({ sequence: 6, deleted: false });
    expect(await watermark("C22")).toMatchObject({ table_name: "contexts", sequence: 8, version: 2 });
    expect(recorded.map((c) => [c.spec.resource, c.op, c.keys]).sort()).toEqual(
      [
        ["codes", "deleted", ["22000"]],
        ["codes", "created", ["22001"]],
        ["contexts", "updated", ["C22"]],
      ].sort(),
    );
  });
});

describe("applySnapshot", () => {
  test("makes the table equal to the owner's: differing rows written, missing ones deleted, equal ones left", async () => {
    const same = codeRow("21000");
    await putRows(db(), codesSpec, [same, codeRow("21001", { description: "stale" }), codeRow("21002")]);
    const snapshot = [same, codeRow("21001", { version: 2, description: "fresh" }), codeRow("21003")].map(
      (r) => ({ ...r, updated_at: (r.updated_at as Date).toISOString() }),
    );
    const recorded: ReferenceChange[] = [];
    const outcome = await db().transaction((tx) =>
      applySnapshot(
        tx as unknown as Database,
        { origin: "monolith", table: codesTable, snapshot, sequence: 40, eventTime: at(40) },
        recording(recorded),
      ),
    );
    expect(outcome).toEqual({ applied: 3, skipped: 1 });
    expect((await tableRows(db())).map((r) => [r.code, r.description, r.version])).toEqual([
      ["21000", same.description, 1],
      ["21001", "fresh", 2],
      ["21003", "Examen 21003", 1],
    ]);
    expect(recorded.map((c) => [c.op, c.keys])).toEqual([
      ["imported", ["21001", "21003"]],
      ["deleted", ["21002"]],
    ]);
    // Watermarks move to the snapshot's sequence, so older events still in flight are skipped after it.
    expect(await watermark("21002")).toMatchObject({ sequence: 40, deleted: true });
    expect(await apply([change("updated", 39, codeRow("21001", { version: 1, updated_at: at(1) }))])).toEqual(
      {
        applied: 0,
        skipped: 1,
      },
    );
  });

  test("another table's snapshot leaves codes alone", async () => {
    await putRows(db(), codesSpec, [codeRow("21010")]);
    await db().transaction((tx) =>
      applySnapshot(
        tx as unknown as Database,
        { origin: "monolith", table: contextsTable, snapshot: [], eventTime: at(0) },
        recording([]),
      ),
    );
    expect((await tableRows(db())).map((r) => r.code)).toEqual(["21010"]);
  });
});
