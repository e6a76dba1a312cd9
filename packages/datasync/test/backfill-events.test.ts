import { describe, expect, test } from "bun:test";
import { codesSpec } from "@dash/reference";
import { DATA_CHANGED_MAX_KEYS } from "@fig/events";
import { type BackfillOptions, backfill } from "../src/index.ts";
import {
  codeRow,
  codeRows,
  keysNamed,
  outboxEvents,
  putRows,
  REFERENCE_ROUTE,
  useSidesWithState,
} from "./helpers.ts";

// What a backfill writes on the candidate reaches the candidate's own change events (its outbox, in the page's
// transaction), as the live sync's applied changes do, so whatever follows them there (a read cache) drops it.
// Dash's route: monolith (owner) → reference-data (candidate), whose event is reference.changed.
const t = useSidesWithState("ds_backfill_events");

const run = (route: string, options: Partial<BackfillOptions> = {}) =>
  backfill({
    route,
    owner: { name: "monolith", db: t.sides.owner.db },
    candidate: { name: "reference-data", db: t.sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
    event: REFERENCE_ROUTE.event,
    state: t.state,
    batch: 5,
    ...options,
  });

const eventsOf = (result: Awaited<ReturnType<typeof run>>) =>
  Object.fromEntries(result.tables.map((table) => [table.table, table.events]));

describe("backfill's change events on the candidate", () => {
  test("one event per page and op names the keys it wrote or deleted, and none it kept", async () => {
    const revised = codeRow("10004", { version: 2, description: "Examen révisé" });
    await putRows(t.sides.owner.db, codesSpec, [...codeRows(12).filter((r) => r.code !== "10004"), revised]);
    // Kept as they are (equal), one older copy (rewritten) and one key the owner lacks (deleted).
    await putRows(t.sides.candidate.db, codesSpec, [
      ...codeRows(3),
      codeRow("10004"),
      codeRow("10500", { description: "gone at the owner" }),
    ]);

    const result = await run("pages");
    expect(result.outbox).toBe(true);
    expect(eventsOf(result)).toEqual({ codes: 4, contexts: 0, establishments: 0, rules: 0 });

    const events = await outboxEvents(t.sides.candidate.db);
    expect(events.map((e) => [e.type, e.source])).toEqual(
      Array.from({ length: 4 }, () => ["reference.changed", "reference-data"]),
    );
    // Pages 10000–04, 10005–09, 10010–11 (the last page reaches the table's end, so it deletes 10500).
    expect(events.map((e) => [e.data.table, e.data.op, e.data.keys, e.data.count, e.data.truncated])).toEqual(
      [
        ["codes", "imported", ["10003", "10004"], 2, false],
        ["codes", "imported", ["10005", "10006", "10007", "10008", "10009"], 5, false],
        ["codes", "imported", ["10010", "10011"], 2, false],
        ["codes", "deleted", ["10500"], 1, false],
      ],
    );
    // Rows as stored on the candidate: the owner's version written, the deleted one as it was.
    expect(events[0]?.data.rows?.[1]).toMatchObject({
      code: "10004",
      version: 2,
      description: "Examen révisé",
    });
    expect(events[3]?.data.rows?.[0]).toMatchObject({ code: "10500", description: "gone at the owner" });
    expect(keysNamed(events, "codes", "imported")).not.toContain("10000");

    // Equal sides: the second run writes nothing and records nothing.
    const again = await run("pages-again");
    expect(eventsOf(again)).toEqual({ codes: 0, contexts: 0, establishments: 0, rules: 0 });
    expect(again.tables.map((table) => table.written + table.deleted)).toEqual([0, 0, 0, 0]);
    expect(await outboxEvents(t.sides.candidate.db)).toHaveLength(4);
  });

  test("a page above the event's key limit is one keyless event: readers drop the whole table", async () => {
    const rows = codeRows(DATA_CHANGED_MAX_KEYS + 1);
    await putRows(t.sides.owner.db, codesSpec, rows);
    const result = await run("large", { batch: 2000 });
    expect(eventsOf(result).codes).toBe(1);
    const events = await outboxEvents(t.sides.candidate.db);
    expect(events.map((e) => [e.type, e.subject, e.data])).toEqual([
      [
        "reference.changed",
        "codes",
        {
          table: "codes",
          op: "imported",
          keys: [],
          count: rows.length,
          truncated: true,
          rows: [],
          sequence: expect.any(Number),
        },
      ],
    ]);
  });
});
