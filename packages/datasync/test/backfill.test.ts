import { describe, expect, test } from "bun:test";
import { codes, codesSpec, contextsSpec, type Row } from "@dash/reference";
import { eq } from "drizzle-orm";
import { type BackfillOptions, backfill, syncKeys, verifySides } from "../src/index.ts";
import type { BackfillCheckpoint } from "../src/state.ts";
import { codeRow, codeRows, putRows, REFERENCE_ROUTE, tableRows, useSidesWithState } from "./helpers.ts";

// The backfill from the monolith (owner) into reference-data (candidate), its checkpoint in real NATS KV.
const t = useSidesWithState("ds_backfill");

/** Each test names its own route, so no checkpoint is shared between tests. */
const run = (route: string, options: Partial<BackfillOptions> = {}) =>
  backfill({
    route,
    owner: { name: "monolith", db: t.sides.owner.db },
    candidate: { name: "reference-data", db: t.sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
    state: t.state,
    batch: 5,
    ...options,
  });

const verify = () =>
  verifySides({
    owner: { name: "monolith", db: t.sides.owner.db },
    candidate: { name: "reference-data", db: t.sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
  });

const contextRows = (n: number): Row[] =>
  Array.from({ length: n }, (_, i) => ({
    code: `X${i}`,
    description: `Contexte ${i}`,
    active: true,
    version: 1 + i,
    updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
  }));

async function seedOwner() {
  await putRows(t.sides.owner.db, codesSpec, codeRows(23));
  await putRows(t.sides.owner.db, contextsSpec, contextRows(3));
}

class Interrupted extends Error {}

describe("backfill", () => {
  test("copies every table page by page until both sides verify equal, and clears its checkpoint", async () => {
    await seedOwner();
    const result = await run("full");
    expect(result.resumed).toBe(false);
    expect(result.tables.map((table) => [table.table, table.rows, table.written, table.deleted])).toEqual([
      ["codes", 23, 23, 0],
      ["contexts", 3, 3, 0],
      ["establishments", 0, 0, 0],
      ["rules", 0, 0, 0],
    ]);
    expect((await verify()).ok).toBe(true);
    expect(await t.state.checkpoint("full")).toBeUndefined();
  });

  test("interrupted after a page, it resumes from its checkpoint rather than from the start", async () => {
    await seedOwner();
    let pages = 0;
    const first = await run("resume", {
      afterPage: () => {
        if (++pages === 2) throw new Interrupted("killed after page 2");
      },
    }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Interrupted);

    const saved = await t.state.checkpoint("resume");
    expect(saved).toMatchObject({ table: "codes", after: "10009", copied: 10, owner: "monolith" });
    expect((await tableRows(t.sides.candidate.db)).map((r) => r.code)).toEqual(
      codeRows(10).map((r) => r.code),
    );

    const checkpoints: BackfillCheckpoint[] = [];
    const second = await run("resume", { afterPage: (c) => void checkpoints.push(c) });
    expect(second.resumed).toBe(true);
    // The codes pages after 10009 only: 10010–14, 10015–19, 10020–22 (short page: the table's end).
    expect(checkpoints.filter((c) => c.table === "codes").map((c) => [c.after, c.copied])).toEqual([
      ["10014", 15],
      ["10019", 20],
      [null, 23],
    ]);
    expect(checkpoints[0]?.startedAt).toBe(saved?.startedAt as string);
    expect(second.tables[0]).toMatchObject({ table: "codes", rows: 23, written: 13 });
    expect((await verify()).ok).toBe(true);
    expect(await t.state.checkpoint("resume")).toBeUndefined();
  });

  test("interrupted after a table's last page, the next run starts at the next table without re-reading it", async () => {
    await seedOwner();
    const first = await run("boundary", {
      batch: 50,
      afterPage: (c) => {
        if (c.table === "codes") throw new Interrupted("killed after codes");
      },
    }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Interrupted);
    // The crash came before the next table was named: codes' last checkpoint has no key left.
    expect(await t.state.checkpoint("boundary")).toMatchObject({ table: "codes", after: null, copied: 23 });
    const checkpoints: BackfillCheckpoint[] = [];
    const second = await run("boundary", { batch: 50, afterPage: (c) => void checkpoints.push(c) });
    expect(second.resumed).toBe(true);
    expect(checkpoints.map((c) => c.table)).toEqual(["contexts", "establishments", "rules"]);
    expect(second.tables.map((table) => [table.table, table.rows])).toEqual([
      ["contexts", 3],
      ["establishments", 0],
      ["rules", 0],
    ]);
    expect((await verify()).ok).toBe(true);
  });

  test("a second run writes nothing: every page is already there", async () => {
    await seedOwner();
    await run("twice");
    const before = await tableRows(t.sides.candidate.db);
    const again = await run("twice");
    expect(again.resumed).toBe(false);
    expect(again.tables.map((table) => [table.table, table.written, table.deleted])).toEqual([
      ["codes", 0, 0],
      ["contexts", 0, 0],
      ["establishments", 0, 0],
      ["rules", 0, 0],
    ]);
    expect(await tableRows(t.sides.candidate.db)).toEqual(before);
  });

  test("the owner wins over an older candidate row, a newer candidate row is kept, and extra keys go", async () => {
    await putRows(t.sides.owner.db, codesSpec, [
      codeRow("10000", { version: 2, description: "owner v2" }),
      codeRow("10001", { version: 2, description: "owner v2" }),
      codeRow("10003"),
    ]);
    await putRows(t.sides.candidate.db, codesSpec, [
      codeRow("10000", { version: 1, description: "candidate v1" }),
      codeRow("10001", { version: 3, description: "candidate v3" }),
      codeRow("10002", { description: "only here" }),
      codeRow("10099", { description: "only here, past the owner's last key" }),
    ]);
    const result = await run("rules", { batch: 2 });
    expect(result.tables[0]).toMatchObject({ written: 2, deleted: 2 });
    expect((await tableRows(t.sides.candidate.db)).map((r) => [r.code, r.description, r.version])).toEqual([
      ["10000", "owner v2", 2],
      ["10001", "candidate v3", 3],
      ["10003", "Examen 10003", 1],
    ]);
  });

  test("a key the live sync already applied from the owner is left to the sync, written or deleted", async () => {
    await putRows(t.sides.owner.db, codesSpec, [codeRow("10000", { description: "owner's older read" })]);
    await putRows(t.sides.candidate.db, codesSpec, [
      codeRow("10000", { description: "synced" }),
      codeRow("10001", { description: "synced, not on the owner's page" }),
    ]);
    const mark = { origin: "monolith", table_name: "codes", sequence: 9, version: 1, event_time: new Date() };
    await t.sides.candidate.db.insert(syncKeys).values([
      { ...mark, key: "10000" },
      { ...mark, key: "10001" },
    ]);
    const result = await run("synced");
    expect(result.tables[0]).toMatchObject({ written: 0, deleted: 0 });
    expect(
      (await t.sides.candidate.db.select().from(codes).where(eq(codes.code, "10000")))[0]?.description,
    ).toBe("synced");
    expect((await tableRows(t.sides.candidate.db)).map((r) => r.code)).toEqual(["10000", "10001"]);
  });

  test("a checkpoint of another pair of sides is not resumed", async () => {
    await seedOwner();
    await t.state.saveCheckpoint("other", {
      owner: "reference-data",
      candidate: "monolith",
      table: "rules",
      after: null,
      copied: 0,
      startedAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    });
    const result = await run("other");
    expect(result.resumed).toBe(false);
    expect(result.tables[0]).toMatchObject({ table: "codes", rows: 23 });
    expect((await verify()).ok).toBe(true);
  });
});
