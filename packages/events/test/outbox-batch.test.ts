import { describe, expect, test } from "bun:test";
import { createDatabase } from "@fig/db";
import { count, eq } from "drizzle-orm";
import { enqueueEvent, enqueueEvents, outbox } from "../src/index.ts";
import { changed, eventsTestEnv, migrationsFolder, outboxRows } from "./helpers.ts";
import { widgets } from "./schema.ts";

const env = eventsTestEnv("events-outbox-batch-test");

async function outboxCount(): Promise<number> {
  const [row] = await env.tdb.db.select({ n: count() }).from(outbox);
  return row?.n ?? 0;
}

// Text that a hand-built literal would get wrong: quotes, backslashes, a `$1`, non-ASCII and a NUL-free control.
const awkward = `it's "quoted" \\ back\\slash $1 ünïcödé 🚀 tab\there`;

describe("enqueueEvents: many outbox rows in one statement, in the caller's transaction", () => {
  test("every row is written with its attributes, seq in the array's order, sequence stamped where asked", async () => {
    const ids = await env.tdb.db.transaction((tx) =>
      enqueueEvents(tx, [
        { type: "reference.changed", data: changed(501), options: { subject: `codes/${awkward}` } },
        {
          type: "reference.changed",
          data: { ...changed(502), keys: [awkward] },
          options: { sequence: true },
        },
        {
          type: "reference.changed",
          data: changed(503),
          options: {
            source: "monolith",
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
          },
        },
      ]),
    );
    expect(ids).toHaveLength(3);
    const rows = await outboxRows(env.tdb.db, ids);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const [a, b, c] = ids.map((id) => byId.get(id));
    if (!a || !b || !c) throw new Error("all three rows are in the outbox");
    expect(a).toMatchObject({
      type: "reference.changed",
      source: "reference-data",
      subject: `codes/${awkward}`,
    });
    expect(a.data).toEqual(changed(501));
    expect(a.tenant).toBeNull();
    expect(a.traceparent).toBeNull();
    expect(b.data).toEqual({ ...changed(502), keys: [awkward], sequence: b.seq });
    expect(c).toMatchObject({
      source: "monolith",
      subject: null,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(c.data).toEqual(changed(503));
    expect(a.seq).toBeLessThan(b.seq);
    expect(b.seq).toBeLessThan(c.seq);
  });

  test("one invalid event refuses the whole batch, and the transaction's state change with it", async () => {
    const before = await outboxCount();
    await expect(
      env.tdb.db.transaction(async (tx) => {
        await tx.insert(widgets).values({ id: "w-batch-bad", name: "never" });
        await enqueueEvents(tx, [
          { type: "reference.changed", data: changed(510) },
          { type: "reference.changed", data: { ...changed(511), count: -1 } },
        ]);
      }),
    ).rejects.toThrow();
    await expect(
      enqueueEvents(env.tdb.db, [
        { type: "reference.changed", data: changed(512), options: { source: "not-a-publisher" } },
      ]),
    ).rejects.toThrow();
    expect(await env.tdb.db.select().from(widgets).where(eq(widgets.id, "w-batch-bad"))).toEqual([]);
    expect(await outboxCount()).toBe(before);
    expect(await env.tdb.db.transaction((tx) => enqueueEvents(tx, []))).toEqual([]);
  });

  test("rollback after the batch drops every row; seq follows the order of a batch of 1,000", async () => {
    const before = await outboxCount();
    const batch = Array.from({ length: 1000 }, (_, i) => ({
      type: "reference.changed" as const,
      data: changed(1000 + i),
    }));
    await expect(
      env.tdb.db.transaction(async (tx) => {
        await enqueueEvents(tx, batch);
        throw new Error("rolled back after the batch");
      }),
    ).rejects.toThrow("rolled back");
    expect(await outboxCount()).toBe(before);

    const ids = await env.tdb.db.transaction((tx) => enqueueEvents(tx, batch));
    expect(await outboxCount()).toBe(before + 1000);
    const rows = await outboxRows(env.tdb.db, ids);
    const seqOf = new Map(rows.map((r) => [r.id, r.seq]));
    const seqs = ids.map((id) => seqOf.get(id) as number);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });
});

describe("the embedded database (PGlite) writes the same rows through drizzle", () => {
  test("enqueueEvent and enqueueEvents on PGlite", async () => {
    const embedded = await createDatabase({ service: "outbox-batch-pglite", dataDir: "memory://" });
    try {
      await embedded.migrate(migrationsFolder);
      const one = await embedded.db.transaction((tx) =>
        enqueueEvent(tx, "reference.changed", changed(601), { sequence: true, subject: awkward }),
      );
      const many = await embedded.db.transaction((tx) =>
        enqueueEvents(tx, [
          { type: "reference.changed", data: changed(602) },
          { type: "reference.changed", data: changed(603), options: { sequence: true } },
        ]),
      );
      const rows = await embedded.db.select().from(outbox).orderBy(outbox.seq);
      expect(rows.map((r) => r.id)).toEqual([one, ...many]);
      expect(rows[0]?.subject).toBe(awkward);
      expect(rows[0]?.data).toEqual({ ...changed(601), sequence: rows[0]?.seq });
      expect(rows[1]?.data).toEqual(changed(602));
      expect(rows[2]?.data).toEqual({ ...changed(603), sequence: rows[2]?.seq });
      await expect(
        embedded.db.transaction((tx) =>
          enqueueEvents(tx, [{ type: "reference.changed", data: { ...changed(604), count: -1 } }]),
        ),
      ).rejects.toThrow();
      expect(await embedded.db.select({ n: count() }).from(outbox)).toEqual([{ n: 3 }]);
    } finally {
      await embedded.close();
    }
  });
});
