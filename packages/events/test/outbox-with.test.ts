import { describe, expect, test } from "bun:test";
import { createDatabase, type Database, rowsOf } from "@fig/db";
import { count, eq, sql } from "drizzle-orm";
import { enqueueEvent, enqueueWith, outbox } from "../src/index.ts";
import { changed, eventsTestEnv, migrationsFolder, outboxRows, until } from "./helpers.ts";
import { widgets } from "./schema.ts";

const env = eventsTestEnv("events-outbox-with-test");

/** The written widget as `rows` carries it. */
const widgetJson = sql`jsonb_build_object('id', id, 'name', name)`;

function insertWidget(tx: Database, id: string, name: string, each = widgetJson) {
  return enqueueWith(
    tx,
    tx.insert(widgets).values({ id, name }).onConflictDoNothing().returning(),
    "reference.changed",
    { ...changed(1), keys: [id], rows: [] },
    { fromRows: { field: "rows", each }, sequence: true, table: widgets, subject: `widgets/${id}` },
  );
}

async function widgetRows(db: Database, id: string) {
  return db.select().from(widgets).where(eq(widgets.id, id));
}

async function outboxCount(db: Database): Promise<number> {
  const [row] = await db.select({ n: count() }).from(outbox);
  return row?.n ?? 0;
}

describe("enqueueWith: the write and its outbox row in one statement", () => {
  test("the event carries the written row and its own seq; the row comes back as drizzle maps it", async () => {
    const { rows, id } = await env.tdb.db.transaction((tx) => insertWidget(tx, "ww-1", 'it\'s "one"'));
    expect(rows).toEqual([{ id: "ww-1", name: 'it\'s "one"' }]);
    const [event] = await outboxRows(env.tdb.db, [id as string]);
    expect(event?.subject).toBe("widgets/ww-1");
    expect(event?.data).toEqual({
      ...changed(1),
      keys: ["ww-1"],
      rows: [{ id: "ww-1", name: 'it\'s "one"' }],
      sequence: event?.seq,
    });
  });

  test("a write that returned no row writes no event", async () => {
    const before = await outboxCount(env.tdb.db);
    const result = await env.tdb.db.transaction((tx) => insertWidget(tx, "ww-1", "conflicts"));
    expect(result).toEqual({ rows: [], id: undefined });
    expect(await outboxCount(env.tdb.db)).toBe(before);
  });

  test("data the catalog refuses throws before anything is written", async () => {
    const before = await outboxCount(env.tdb.db);
    await expect(
      env.tdb.db.transaction((tx) =>
        enqueueWith(
          tx,
          tx.insert(widgets).values({ id: "ww-bad", name: "never" }).returning(),
          "reference.changed",
          { ...changed(2), count: -1, rows: [] },
          { fromRows: { field: "rows", each: widgetJson } },
        ),
      ),
    ).rejects.toThrow();
    expect(await widgetRows(env.tdb.db, "ww-bad")).toEqual([]);
    expect(await outboxCount(env.tdb.db)).toBe(before);
  });

  test("data made invalid by the written rows throws inside the transaction: neither the row nor the event stays", async () => {
    const before = await outboxCount(env.tdb.db);
    // `rows` must hold objects: a bare string per row passes the check before the write and fails the one after.
    await expect(
      env.tdb.db.transaction((tx) => insertWidget(tx, "ww-derived-bad", "never", sql`to_jsonb(name)`)),
    ).rejects.toThrow("as written from the rows fails its catalog schema");
    expect(await widgetRows(env.tdb.db, "ww-derived-bad")).toEqual([]);
    expect(await outboxCount(env.tdb.db)).toBe(before);
  });

  test("a rollback after it keeps neither the row nor the event", async () => {
    let id: string | undefined;
    await expect(
      env.tdb.db.transaction(async (tx) => {
        id = (await insertWidget(tx, "ww-rolled-back", "never")).id;
        throw new Error("business rule failed after the write");
      }),
    ).rejects.toThrow("business rule failed");
    expect(id).toBeString();
    expect(await widgetRows(env.tdb.db, "ww-rolled-back")).toEqual([]);
    expect(await outboxRows(env.tdb.db, [id as string])).toEqual([]);
  });

  test("seq is drawn after the write's row lock: a writer that waited for the lock gets the larger one", async () => {
    const db = env.tdb.db;
    await db.insert(widgets).values({ id: "ww-hot", name: "v0" });
    const rename = (tx: Database, name: string) =>
      enqueueWith(
        tx,
        tx.update(widgets).set({ name }).where(eq(widgets.id, "ww-hot")).returning(),
        "reference.changed",
        { ...changed(3), op: "updated", keys: ["ww-hot"], rows: [] },
        { fromRows: { field: "rows", each: widgetJson }, sequence: true },
      );
    let releaseFirst: () => void = () => {};
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstLocked: () => void = () => {};
    const locked = new Promise<void>((resolve) => {
      firstLocked = resolve;
    });
    const first = db.transaction(async (tx) => {
      await tx.select().from(widgets).where(eq(widgets.id, "ww-hot")).for("update");
      firstLocked();
      await firstHolds;
      return rename(tx, "first");
    });
    await locked;
    const second = db.transaction((tx) => rename(tx, "second"));
    // The second writer's statement is waiting on the row lock before the first draws its seq.
    await until(async () => {
      const [row] = rowsOf<{ n: number }>(
        await db.execute(
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
        ),
      );
      return (row?.n ?? 0) > 0 ? true : undefined;
    });
    // Another key's event meanwhile: a seq drawn before the lock would be smaller than this one's.
    await db.transaction((tx) => enqueueEvent(tx, "reference.changed", changed(4)));
    releaseFirst();
    const [a, b] = await Promise.all([first, second]);
    const events = await outboxRows(db, [a.id as string, b.id as string]);
    const seqOf = new Map(events.map((e) => [e.id, e.seq]));
    expect(seqOf.get(b.id as string) as number).toBeGreaterThan(seqOf.get(a.id as string) as number);
    expect(b.rows).toEqual([{ id: "ww-hot", name: "second" }]);
  });
});

describe("the embedded database (PGlite) runs the same statement through drizzle", () => {
  test("the event from the written row, and the refusal after the write", async () => {
    const embedded = await createDatabase({ service: "outbox-with-pglite", dataDir: "memory://" });
    try {
      await embedded.migrate(migrationsFolder);
      const { rows, id } = await embedded.db.transaction((tx) => insertWidget(tx, "ww-e", "embedded"));
      expect(rows).toEqual([{ id: "ww-e", name: "embedded" }]);
      const [event] = await outboxRows(embedded.db, [id as string]);
      expect(event?.data).toEqual({
        ...changed(1),
        keys: ["ww-e"],
        rows: [{ id: "ww-e", name: "embedded" }],
        sequence: event?.seq,
      });
      await expect(
        embedded.db.transaction((tx) => insertWidget(tx, "ww-e-bad", "never", sql`to_jsonb(name)`)),
      ).rejects.toThrow("fails its catalog schema");
      expect(await widgetRows(embedded.db, "ww-e-bad")).toEqual([]);
      expect(await outboxCount(embedded.db)).toBe(1);
    } finally {
      await embedded.close();
    }
  });
});

describe("the fields made in SQL replace the data's own under those names, on Postgres and PGlite", () => {
  // `rows` and `sequence` join the data with one `||` (its right side's keys win), where each had a jsonb_set.
  async function check(db: Database, id: string) {
    const { id: eventId } = await db.transaction(async (tx) => {
      const result = await enqueueWith(
        tx,
        tx.insert(widgets).values({ id, name: "made" }).returning(),
        "reference.changed",
        { ...changed(5), keys: [id], rows: [{ id: "stand-in", name: "stale" }], sequence: 0 },
        { fromRows: { field: "rows", each: widgetJson }, sequence: true },
      );
      // The sequence the statements name (outbox_seq_seq) is the one this transaction drew from.
      const [drawn] = rowsOf<{ n: number }>(
        await tx.execute(sql`select currval('outbox_seq_seq')::int as n`),
      );
      const [row] = await outboxRows(tx, [result.id as string]);
      expect(row?.seq).toBe(drawn?.n as number);
      return result;
    });
    const [event] = await outboxRows(db, [eventId as string]);
    expect(event?.data).toEqual({
      ...changed(5),
      keys: [id],
      rows: [{ id, name: "made" }],
      sequence: event?.seq,
    });
    expect(event?.seq).toBeGreaterThan(0);
  }

  test("Postgres", async () => {
    await check(env.tdb.db, `ww-made-${crypto.randomUUID().slice(0, 8)}`);
  });

  test("PGlite", async () => {
    const embedded = await createDatabase({ service: "outbox-with-made-pglite", dataDir: "memory://" });
    try {
      await embedded.migrate(migrationsFolder);
      await check(embedded.db, "ww-made-e");
    } finally {
      await embedded.close();
    }
  });
});
