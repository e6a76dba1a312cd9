import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createNatsClient, DATA_CHANGED_MAX_KEYS, deleteNamespace, type NatsClient } from "@fig/events";
import { codesSpec } from "@fig/reference";
import { type BackfillOptions, backfill, createDatasyncState, type DatasyncState } from "../src/index.ts";
import {
  codeRow,
  codeRows,
  createSides,
  keysNamed,
  NATS_URL,
  outboxEvents,
  putRows,
  REFERENCE_ROUTE,
  resetSide,
  type Sides,
  uniqueNamespace,
} from "./helpers.ts";

// What a backfill writes on the candidate reaches the candidate's own change events (its outbox, in the page's
// transaction), as the live sync's applied changes do, so whatever follows them there (a read cache) drops it.
// Dash's route: monolith (owner) → reference-data (candidate), whose event is reference.changed.
const namespace = uniqueNamespace();
let sides: Sides;
let nats: NatsClient;
let state: DatasyncState;

beforeAll(async () => {
  sides = await createSides("ds_backfill_events");
  nats = createNatsClient({ servers: NATS_URL, name: "datasync-backfill-events-test" });
  state = createDatasyncState(nats, namespace);
});
afterAll(async () => {
  if (nats) await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await sides?.drop();
});
beforeEach(async () => {
  await resetSide(sides.owner.db);
  await resetSide(sides.candidate.db);
});

const run = (route: string, options: Partial<BackfillOptions> = {}) =>
  backfill({
    route,
    owner: { name: "monolith", db: sides.owner.db },
    candidate: { name: "reference-data", db: sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
    event: REFERENCE_ROUTE.event,
    state,
    batch: 5,
    ...options,
  });

const eventsOf = (result: Awaited<ReturnType<typeof run>>) =>
  Object.fromEntries(result.tables.map((t) => [t.table, t.events]));

describe("backfill's change events on the candidate", () => {
  test("one event per page and op names the keys it wrote or deleted, and none it kept", async () => {
    const revised = codeRow("10004", { version: 2, description: "Examen révisé" });
    await putRows(sides.owner.db, codesSpec, [...codeRows(12).filter((r) => r.code !== "10004"), revised]);
    // Kept as they are (equal), one older copy (rewritten) and one key the owner lacks (deleted).
    await putRows(sides.candidate.db, codesSpec, [
      ...codeRows(3),
      codeRow("10004"),
      codeRow("10500", { description: "gone at the owner" }),
    ]);

    const result = await run("pages");
    expect(result.outbox).toBe(true);
    expect(eventsOf(result)).toEqual({ codes: 4, contexts: 0, establishments: 0, rules: 0 });

    const events = await outboxEvents(sides.candidate.db);
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
    expect(again.tables.map((t) => t.written + t.deleted)).toEqual([0, 0, 0, 0]);
    expect(await outboxEvents(sides.candidate.db)).toHaveLength(4);
  });

  test("a page above the event's key limit is one keyless event: readers drop the whole table", async () => {
    const rows = codeRows(DATA_CHANGED_MAX_KEYS + 1);
    await putRows(sides.owner.db, codesSpec, rows);
    const result = await run("large", { batch: 2000 });
    expect(eventsOf(result).codes).toBe(1);
    const events = await outboxEvents(sides.candidate.db);
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
