import { expect, test } from "bun:test";
import { createDatabase, type Database, type DatabaseHandle } from "@fig/db";
import { constantBackoff } from "@fig/retry";
import { sql } from "drizzle-orm";
import {
  createEventConsumer,
  createNatsClient,
  type EventBatchHandler,
  type EventConsumerHandler,
  ensureStreams,
  type FigEvent,
  listDeadLetters,
} from "../src/index.ts";
import {
  changed,
  drained,
  effectCounts,
  eventsTestEnv,
  makeEvent,
  NATS_URL,
  publishDirect,
  silent,
  until,
} from "./helpers.ts";
import { effects } from "./schema.ts";

// Crashes are simulated by terminating a second pool's Postgres backend: a real server only.
const env = eventsTestEnv("events-batch-test", {
  requiresServer: "the crash tests terminate a Postgres backend and open a second pool",
});
const { nats, testNamespace } = env;
type Event = FigEvent<"reference.changed">;

/** Publishes `n` events straight to the stream (a backlog the consumer then reads in batches); returns them. */
async function backlog(namespace: string, n: number): Promise<Event[]> {
  await ensureStreams(await nats.manager(), namespace);
  const js = await nats.jetstream();
  const events = Array.from({ length: n }, (_, i) => makeEvent({ data: changed(i) }));
  await Promise.all(events.map((event) => publishDirect(js, namespace, event)));
  return events;
}

async function expectEachAppliedOnce(events: Event[]) {
  const counts = await effectCounts(
    env.tdb.db,
    events.map((e) => e.id),
  );
  expect(events.filter((e) => counts.get(e.id) !== 1).map((e) => e.data.keys[0])).toEqual([]);
}

const insertEffects = (tx: Database, events: Event[]) =>
  tx.insert(effects).values(events.map((e) => ({ event_id: e.id })));

test("a batchHandler gets a backlog in batches, in stream order, each event once", async () => {
  const namespace = testNamespace("order");
  const events = await backlog(namespace, 250);
  const calls: string[][] = [];
  const consumer = env.consumer({
    name: "batched",
    type: "reference.changed",
    namespace,
    batchSize: 100,
    batchHandler: async (batch, tx) => {
      calls.push(batch.map((e) => e.id));
      await insertEffects(tx, batch);
    },
  });
  await consumer.start();
  await drained(nats, namespace, "batched");

  expect(calls.flat()).toEqual(events.map((e) => e.id));
  expect(Math.max(...calls.map((c) => c.length))).toBeGreaterThan(1);
  expect(Math.max(...calls.map((c) => c.length))).toBeLessThanOrEqual(100);
  await expectEachAppliedOnce(events);
}, 30_000);

/** The per-event handler and the batch form, each failing for event "13" after writing its effect. */
const poisoned: Record<string, (calls: string[][]) => EventConsumerHandler<"reference.changed">> = {
  batchHandler: (calls) => ({
    batchHandler: async (batch, tx) => {
      calls.push(batch.map((e) => e.data.keys[0] as string));
      await insertEffects(tx, batch);
      if (batch.some((e) => e.data.keys[0] === "13")) throw new Error("poison 13");
    },
  }),
  handler: (calls) => ({
    handler: async (event, tx) => {
      calls.push([event.data.keys[0] as string]);
      await insertEffects(tx, [event]);
      if (event.data.keys[0] === "13") throw new Error("poison 13");
    },
  }),
};

for (const [form, handlerOf] of Object.entries(poisoned)) {
  test(`${form}: a poison event in a batch is dead-lettered alone; its neighbours are applied once`, async () => {
    const namespace = testNamespace(`poison${form}`);
    const events = await backlog(namespace, 30);
    const calls: string[][] = [];
    const consumer = env.consumer({
      name: "poisoned",
      type: "reference.changed",
      namespace,
      maxDeliver: 2,
      backoff: constantBackoff(50),
      ...handlerOf(calls),
    });
    await consumer.start();
    const letters = await until(
      async () => {
        const found = await listDeadLetters(nats, namespace).catch(() => []);
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: 15_000, message: "the poison event's dead letter" },
    );
    await drained(nats, namespace, "poisoned");

    const poison = events[13] as Event;
    expect(letters.map((l) => ({ id: l.eventId, error: l.error, deliveries: l.deliveries }))).toEqual([
      { id: poison.id, error: "poison 13", deliveries: 2 },
    ]);
    // It failed inside a batch with others (rolled back, then retried one event per transaction).
    if (form === "batchHandler") expect(calls.some((c) => c.length > 1 && c.includes("13"))).toBe(true);
    else expect(calls.filter((c) => c[0] === "13")).toHaveLength(3);
    const neighbours = events.filter((e) => e !== poison);
    await expectEachAppliedOnce(neighbours);
    expect((await effectCounts(env.tdb.db, [poison.id])).get(poison.id)).toBeUndefined();
  }, 30_000);
}

/** A consumer on a pool and NATS connection of its own, so the test can "crash" it without touching the rest. */
async function crashableConsumer(namespace: string, batchHandler: EventBatchHandler<"reference.changed">) {
  const database: DatabaseHandle = await createDatabase({
    service: "events-batch-crash",
    url: env.tdb.url as string,
    poolMax: 2,
  });
  const ownNats = createNatsClient({ servers: NATS_URL, name: "events-batch-crashing" });
  const consumer = createEventConsumer({
    name: "crashy",
    type: "reference.changed",
    namespace,
    database,
    nats: ownNats,
    logger: silent,
    ackWaitMs: 1000,
    batchHandler,
  });
  env.cleanup.defer(async () => {
    await consumer.stop().catch(() => {});
    await ownNats.close().catch(() => {});
    await database.close().catch(() => {});
  });
  /** What dying does: the NATS connection drops at once (no drain, so nothing more is acked). */
  const dropNats = async () => (await ownNats.connection()).close();
  return { consumer, database, dropNats };
}

/** A healthy instance of the same durable consumer, counting what its batchHandler applies. */
async function survivor(namespace: string) {
  const applied: string[] = [];
  const consumer = env.consumer({
    name: "crashy",
    type: "reference.changed",
    namespace,
    ackWaitMs: 1000,
    batchHandler: async (batch, tx) => {
      applied.push(...batch.map((e) => e.id));
      await insertEffects(tx, batch);
    },
  });
  await consumer.start();
  return applied;
}

test("a crash after COMMIT and before the acks: the redelivered batch is applied nothing twice", async () => {
  const namespace = testNamespace("aftercommit");
  const events = await backlog(namespace, 40);
  let crashed = false;
  const committed = Promise.withResolvers<void>();
  const first = await crashableConsumer(namespace, async (batch, tx) => {
    await insertEffects(tx, batch);
  });
  // The process "dies" between COMMIT and the acks: the transaction resolves, then NATS is gone.
  const realTransaction = first.database.db.transaction.bind(first.database.db);
  first.database.db.transaction = (async (...args: Parameters<typeof realTransaction>) => {
    const result = await realTransaction(...args);
    if (!crashed) {
      crashed = true;
      await first.dropNats();
      committed.resolve();
    }
    return result;
  }) as typeof realTransaction;
  await first.consumer.start();
  await committed.promise;
  // What it had in hand is still applied (and its acks lost too); then it is stopped for good.
  await first.consumer.stop();
  const appliedBeforeCrash = (
    await effectCounts(
      env.tdb.db,
      events.map((e) => e.id),
    )
  ).size;
  expect(appliedBeforeCrash).toBeGreaterThan(0);

  const applied = await survivor(namespace);
  await drained(nats, namespace, "crashy", 20_000);
  await expectEachAppliedOnce(events);
  // The survivor applied exactly what the first instance had not committed.
  expect(applied).toHaveLength(events.length - appliedBeforeCrash);
}, 40_000);

test("a crash mid-batch before COMMIT: nothing of the batch stays, and the redelivery applies it once", async () => {
  const namespace = testNamespace("midbatch");
  const events = await backlog(namespace, 40);
  const inHandler = Promise.withResolvers<number>();
  const never = Promise.withResolvers<void>();
  const first = await crashableConsumer(namespace, async (batch, tx) => {
    await insertEffects(tx, batch);
    const [row] = (await tx.execute(sql`select pg_backend_pid() as pid`)) as unknown as { pid: number }[];
    inHandler.resolve(row?.pid as number);
    await never.promise; // the process is frozen here, mid-transaction, until it "dies"
  });
  await first.consumer.start();
  const pid = await inHandler.promise;
  // Dying: NATS drops, the pool is closed, and Postgres rolls back the open transaction.
  await first.dropNats();
  await env.tdb.db.execute(sql`select pg_terminate_backend(${pid})`);
  const closing = first.database.close().catch(() => {});
  never.resolve();
  await closing;
  expect(
    (
      await effectCounts(
        env.tdb.db,
        events.map((e) => e.id),
      )
    ).size,
  ).toBe(0);
  await first.consumer.stop().catch(() => {});

  const applied = await survivor(namespace);
  await drained(nats, namespace, "crashy", 20_000);
  await expectEachAppliedOnce(events);
  expect([...applied].sort()).toEqual(events.map((e) => e.id).sort());
}, 40_000);
