import { describe, expect, test } from "bun:test";
import { rowsOf } from "@fig/db";
import { count, eq, inArray, sql } from "drizzle-orm";
import { enqueueEvent, OUTBOX_CHANNEL, OUTBOX_NOTIFY_EVERY_MS, outbox, streamNames } from "../src/index.ts";
import { capturingLogger, changed, enqueueMany, eventsTestEnv, outboxRows, until } from "./helpers.ts";
import { effects, widgets } from "./schema.ts";

const env = eventsTestEnv("events-outbox-test", {
  // A second connection waits on the first's row lock, and the relay's wake-up is a LISTEN on another one.
  requiresServer: "row locks and LISTEN/NOTIFY across connections",
});
const { nats, testNamespace } = env;

async function outboxCount(): Promise<number> {
  const [row] = await env.tdb.db.select({ n: count() }).from(outbox);
  return row?.n ?? 0;
}

describe("enqueueEvent: the outbox row shares the state change's transaction", () => {
  test("rollback writes neither the state change nor the outbox row", async () => {
    const before = await outboxCount();
    let enqueued: string | undefined;
    await expect(
      env.tdb.db.transaction(async (tx) => {
        await tx.insert(widgets).values({ id: "w-rolled-back", name: "never" });
        enqueued = await enqueueEvent(tx, "reference.changed", changed(1));
        throw new Error("business rule failed after the write");
      }),
    ).rejects.toThrow("business rule failed");

    expect(enqueued).toBeString();
    expect(await env.tdb.db.select().from(widgets).where(eq(widgets.id, "w-rolled-back"))).toEqual([]);
    expect(await outboxRows(env.tdb.db, [enqueued as string])).toEqual([]);
    expect(await outboxCount()).toBe(before);
  });

  test("commit writes both, the event pending with its catalog attributes", async () => {
    const id = await env.tdb.db.transaction(async (tx) => {
      await tx.insert(widgets).values({ id: "w-committed", name: "kept" });
      return enqueueEvent(tx, "reference.changed", changed(2), {
        subject: "codes/A1",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      });
    });

    expect(await env.tdb.db.select().from(widgets).where(eq(widgets.id, "w-committed"))).toEqual([
      { id: "w-committed", name: "kept" },
    ]);
    const [row] = await outboxRows(env.tdb.db, [id]);
    expect(row).toMatchObject({
      id,
      type: "reference.changed",
      source: "reference-data",
      subject: "codes/A1",
      tenant: null,
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      data: changed(2),
      sent_at: null,
      attempts: 0,
      last_error: null,
    });
  });

  test("data that fails the catalog schema throws and writes nothing", async () => {
    const before = await outboxCount();
    const bad = { table: "planets", op: "created", keys: [], count: -1, truncated: false };

    // Inside a transaction with a state change: the whole transaction fails.
    await expect(
      env.tdb.db.transaction(async (tx) => {
        await tx.insert(widgets).values({ id: "w-bad-event", name: "never" });
        await enqueueEvent(tx, "reference.changed", bad as never);
      }),
    ).rejects.toThrow();
    expect(await env.tdb.db.select().from(widgets).where(eq(widgets.id, "w-bad-event"))).toEqual([]);

    // Outside a transaction too: the schema check runs before any write.
    await expect(enqueueEvent(env.tdb.db, "reference.changed", bad as never)).rejects.toThrow();
    await expect(
      enqueueEvent(env.tdb.db, "reference.changed", { ...changed(3), extra: "not in the schema" } as never),
    ).rejects.toThrow();

    expect(await outboxCount()).toBe(before);
  });
});

describe("enqueueEvent with sequence: a change event's per-key order, drawn by the outbox insert", () => {
  test("data.sequence is the row's own seq; a write that waited for a key's lock gets the larger one, and its time is after the wait", async () => {
    await env.tdb.db.insert(widgets).values({ id: "w-seq", name: "v0" });
    let releaseFirst: () => void = () => {};
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstLocked: () => void = () => {};
    const locked = new Promise<void>((resolve) => {
      firstLocked = resolve;
    });
    // The first write takes the row lock and records its event late; the second waits for the lock meanwhile.
    const first = env.tdb.db.transaction(async (tx) => {
      await tx.update(widgets).set({ name: "v1" }).where(eq(widgets.id, "w-seq"));
      firstLocked();
      await firstHolds;
      return enqueueEvent(tx, "reference.changed", changed(301), { sequence: true });
    });
    await locked;
    const second = env.tdb.db.transaction(async (tx) => {
      await tx.update(widgets).set({ name: "v2" }).where(eq(widgets.id, "w-seq"));
      return enqueueEvent(tx, "reference.changed", changed(302), { sequence: true });
    });
    // The second is queued on the lock (not yet through its update) when the first records its event.
    await until(
      async () => {
        const [row] = rowsOf<{ n: number }>(
          await env.tdb.db.execute(
            sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          ),
        );
        return (row?.n ?? 0) > 0;
      },
      { message: "the second write to wait for the row lock" },
    );
    const releasedAt = Date.now();
    releaseFirst();
    const [a, b] = await Promise.all([first, second]);
    const rows = await outboxRows(env.tdb.db, [a, b]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const [ra, rb] = [byId.get(a), byId.get(b)];
    if (!ra || !rb) throw new Error("both events are in the outbox");
    const seqA = (ra.data as { sequence?: number }).sequence;
    const seqB = (rb.data as { sequence?: number }).sequence;
    expect(seqA).toBe(ra.seq);
    expect(seqB).toBe(rb.seq);
    expect(seqB as number).toBeGreaterThan(seqA as number);
    // The event's time is the outbox insert's, after the lock wait (its transaction began before the release).
    expect(rb.created_at.getTime()).toBeGreaterThanOrEqual(releasedAt - 5);
    // Without the option the data is stored as given.
    const plain = await env.tdb.db.transaction((tx) => enqueueEvent(tx, "reference.changed", changed(303)));
    expect((await outboxRows(env.tdb.db, [plain]))[0]?.data).toEqual(changed(303));
  });
});

describe("relay", () => {
  test("NOTIFY wakes an idle relay: an event enqueued after start is sent without waiting for a poll", async () => {
    const namespace = testNamespace("notify");
    // The next poll is far beyond this test's timeout: only NOTIFY can get the second event out in time.
    const { logger, records } = capturingLogger();
    // No busy polling after a send either (lingerMs 0): NOTIFY alone must wake it.
    const relay = env.relay({ namespace, pollIntervalMs: 3_600_000, lingerMs: 0, logger });
    const applied = new Set<string>();
    const consumer = env.consumer({
      name: "notify-test",
      type: "reference.changed",
      namespace,
      handler: async (event, tx) => {
        await tx.insert(effects).values({ event_id: event.id });
        applied.add(event.id);
      },
    });

    // Warm up: the first poll sends this one, then the relay sleeps for an hour unless NOTIFY wakes it.
    const [warmup] = await enqueueMany(env.tdb.db, 1, 100);
    await relay.start();
    await consumer.start();
    await until(() => applied.has(warmup as string), { message: "the warm-up event to be consumed" });

    // The writer's NOTIFY window (one per OUTBOX_NOTIFY_EVERY_MS) has passed since the warm-up's: this one notifies.
    await Bun.sleep(OUTBOX_NOTIFY_EVERY_MS);
    const [id] = await enqueueMany(env.tdb.db, 1, 101);
    await until(async () => (await outboxRows(env.tdb.db, [id as string]))[0]?.sent_at, {
      timeoutMs: 20_000,
      message: "the relay to send the event (NOTIFY)",
    });
    await until(() => applied.has(id as string), { timeoutMs: 20_000, message: "the event to be consumed" });
    // Not sent by the retry path instead: the relay never failed, so it only ever slept for the hour-long poll.
    expect(records.filter((r) => r.msg.startsWith("outbox: publish failed"))).toEqual([]);
  }, 30_000);

  test("a burst of commits NOTIFYs at most once per window, and the relay, lingering, still sends every event at once", async () => {
    const namespace = testNamespace("burst");
    const heard: string[] = [];
    const unlisten = await env.tdb.listen(OUTBOX_CHANNEL, (payload) => heard.push(payload));
    // Only NOTIFY and the relay's busy polling after it sent can get these out before this test's deadline.
    const relay = env.relay({ namespace, pollIntervalMs: 3_600_000 });
    await relay.start();
    try {
      const started = performance.now();
      const ids: string[] = [];
      // Source monolith: a window of its own, untouched by the other tests' reference-data events.
      for (let i = 0; i < 20; i++)
        ids.push(
          await env.tdb.db.transaction((tx) =>
            enqueueEvent(tx, "reference.changed", changed(400 + i), { source: "monolith" }),
          ),
        );
      const elapsed = performance.now() - started;
      await until(async () => (await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at !== null), {
        timeoutMs: 20_000,
        message: "the relay to send the whole burst",
      });
      await until(() => heard.length > 0, { message: "the burst's first NOTIFY" });
      expect(heard.length).toBeLessThanOrEqual(Math.ceil(elapsed / OUTBOX_NOTIFY_EVERY_MS) + 1);
      expect(heard.length).toBeLessThan(ids.length);
    } finally {
      await relay.stop();
      await unlisten();
    }
  }, 30_000);

  test("sent rows older than retentionMs are pruned; younger sent rows and pending rows are kept", async () => {
    const namespace = testNamespace("prune");
    const old = crypto.randomUUID();
    const young = crypto.randomUUID();
    await env.tdb.db.insert(outbox).values([
      {
        id: old,
        type: "reference.changed",
        source: "reference-data",
        data: changed(200),
        created_at: new Date(Date.now() - 3_600_000),
        sent_at: new Date(Date.now() - 3_600_000),
      },
      {
        id: young,
        type: "reference.changed",
        source: "reference-data",
        data: changed(201),
        sent_at: new Date(),
      },
    ]);
    const relay = env.relay({ namespace, pollIntervalMs: 20, retentionMs: 60_000, pruneIntervalMs: 0 });
    const [pending] = await enqueueMany(env.tdb.db, 1, 202);
    await relay.start();

    await until(async () => (await outboxRows(env.tdb.db, [old])).length === 0, {
      timeoutMs: 15_000,
      message: "the old sent row to be pruned",
    });
    // The pending row was sent, not pruned (it is younger than the retention).
    const kept = await outboxRows(env.tdb.db, [young, pending as string]);
    expect(kept.map((r) => r.id).sort()).toEqual([young, pending as string].sort());
    expect(kept.every((r) => r.sent_at !== null)).toBe(true);
    await relay.stop();

    // With a tiny retention, what the relay itself sent goes too, once sent (never before).
    const quick = env.relay({ namespace, pollIntervalMs: 20, retentionMs: 100, pruneIntervalMs: 0 });
    const [ephemeral] = await enqueueMany(env.tdb.db, 1, 203);
    await quick.start();
    await until(
      async () =>
        (
          await env.tdb.db
            .select({ n: count() })
            .from(outbox)
            .where(inArray(outbox.id, [ephemeral as string, young, pending as string]))
        )[0]?.n === 0,
      { timeoutMs: 15_000, message: "the relay's own sent rows to be pruned" },
    );
    // It was published before it was deleted.
    const jsm = await nats.manager();
    const stored = await jsm.streams.getMessage(streamNames(namespace).events, {
      last_by_subj: `${namespace}.events.reference.changed`,
    });
    expect(stored?.header?.get("ce-id")).toBe(ephemeral as string);
  }, 40_000);
});
