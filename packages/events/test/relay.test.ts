import { beforeEach, expect, test } from "bun:test";
import { join } from "node:path";
import { rowsOf } from "@fig/db";
import { sql } from "drizzle-orm";
import { createNatsClient, createOutboxRelay, deleteStreams, type NatsClient } from "../src/index.ts";
import {
  capturingLogger,
  drained,
  effectCounts,
  enqueueMany,
  eventsTestEnv,
  freePort,
  NATS_URL,
  natsStoreDir,
  outboxRows,
  removeDir,
  silent,
  startPrivateNats,
  streamMessages,
  uniqueNamespace,
  until,
  waitForLine,
} from "./helpers.ts";
import { effects } from "./schema.ts";

const env = eventsTestEnv("events-relay-test", {
  requiresServer:
    "a relay in a child process on the same database; two relays locking rows over separate connections",
});
const { nats, cleanup, testNamespace } = env;

// Every relay relays the whole outbox: start each test from an empty one.
beforeEach(async () => {
  await env.tdb.db.execute(sql`truncate outbox, inbox, effects, widgets`);
});

/** A consumer whose effect is one `effects` row per application; `seen` lists deliveries in order. */
function effectConsumer(name: string, namespace: string, client: NatsClient = nats) {
  const seen: string[] = [];
  const consumer = env.consumer({
    name,
    type: "reference.changed",
    nats: client,
    namespace,
    handler: async (event, tx) => {
      await tx.insert(effects).values({ event_id: event.id });
      seen.push(event.data.keys[0] as string);
    },
  });
  return { consumer, seen };
}

/** A relay on `client` (a private NATS server) that retries fast and keeps its log records. */
function retryingRelay(namespace: string, client: NatsClient) {
  const { logger, records } = capturingLogger();
  const relay = env.relay({
    nats: client,
    namespace,
    logger,
    pollIntervalMs: 50,
    retryMinMs: 50,
    retryMaxMs: 200,
  });
  return { relay, records };
}

function expectEachOnce(counts: Map<string, number>, ids: string[]) {
  expect([...counts.keys()].sort()).toEqual([...ids].sort());
  expect([...counts.values()].every((n) => n === 1)).toBe(true);
}

test("NATS down at commit time: events stay pending (attempts recorded) and all arrive once when it comes up", async () => {
  const namespace = uniqueNamespace(); // lives on the private server only
  const port = freePort();
  const storeDir = natsStoreDir();
  cleanup.defer(() => removeDir(storeDir));
  const down = createNatsClient({ servers: `127.0.0.1:${port}`, name: "events-outage" });
  cleanup.defer(() => down.close());
  const { relay, records } = retryingRelay(namespace, down);
  const { consumer } = effectConsumer("outage", namespace, down);

  const ids = await enqueueMany(env.tdb.db, 20, 0);
  await relay.start();
  await consumer.start();
  const failures = () => records.filter((r) => r.msg.startsWith("outbox: publish failed")).length;
  await until(() => failures() >= 3, { timeoutMs: 15_000, message: "three failed relay attempts" });
  // More commits while NATS is down.
  ids.push(...(await enqueueMany(env.tdb.db, 5, 20)));
  await until(() => failures() >= 5, { timeoutMs: 15_000, message: "two more failed relay attempts" });

  const duringOutage = await outboxRows(env.tdb.db, ids);
  expect(duringOutage).toHaveLength(25);
  expect(duringOutage.every((r) => r.sent_at === null)).toBe(true);

  // NATS comes up on the port the relay keeps retrying: its client connects on the next retry.
  const server = await startPrivateNats(port, storeDir);
  cleanup.defer(() => server.stop());
  await until(async () => (await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at !== null), {
    timeoutMs: 10_000,
    message: "every pending event to be sent once NATS is up",
  });
  await until(async () => (await effectCounts(env.tdb.db, ids)).size === ids.length, {
    timeoutMs: 10_000,
    message: "every event to be consumed",
  });
  await drained(down, namespace, "outage");
  expectEachOnce(await effectCounts(env.tdb.db, ids), ids);
  expect(await streamMessages(down, namespace)).toBe(ids.length);

  // The outbox tells an operator why events are stuck: at least the head of the queue, which the relay
  // failed to publish five times, carries its attempts and the last error.
  const head = [...duringOutage].sort((a, b) => a.seq - b.seq)[0];
  expect({ attempts: head?.attempts, last_error: head?.last_error }).toEqual({
    attempts: expect.any(Number),
    last_error: expect.stringMatching(/.+/),
  });
  expect(head?.attempts).toBeGreaterThanOrEqual(1);
}, 60_000);

test("NATS restarting under a connected relay: events committed meanwhile all arrive once after it is back", async () => {
  const namespace = uniqueNamespace(); // lives on the private server only
  const port = freePort();
  const storeDir = natsStoreDir();
  cleanup.defer(() => removeDir(storeDir));
  let server = await startPrivateNats(port, storeDir);
  cleanup.defer(() => server.stop());
  const client = createNatsClient({ servers: server.url, name: "events-restart" });
  cleanup.defer(() => client.close());
  const { relay, records } = retryingRelay(namespace, client);
  const { consumer } = effectConsumer("restart", namespace, client);
  await relay.start();
  await consumer.start();

  const before = await enqueueMany(env.tdb.db, 5, 0);
  await until(async () => (await effectCounts(env.tdb.db, before)).size === before.length, {
    message: "the events sent before the restart to be consumed",
  });

  await server.stop();
  const during = await enqueueMany(env.tdb.db, 10, 5);
  // A publish to a disconnected client fails on its timeout; wait for the relay to see that.
  await until(() => records.some((r) => r.msg.startsWith("outbox: publish failed")), {
    timeoutMs: 15_000,
    message: "the relay to fail while NATS is down",
  });
  expect((await outboxRows(env.tdb.db, during)).every((r) => r.sent_at === null)).toBe(true);

  server = await startPrivateNats(port, storeDir);
  const ids = [...before, ...during];
  await until(async () => (await effectCounts(env.tdb.db, ids)).size === ids.length, {
    timeoutMs: 15_000,
    message: "every event to be consumed after NATS is back",
  });
  await drained(client, namespace, "restart");
  expectEachOnce(await effectCounts(env.tdb.db, ids), ids);
  expect(await streamMessages(client, namespace)).toBe(ids.length);
}, 60_000);

test("a publish the broker rejects leaves the row pending with attempts and last_error", async () => {
  const namespace = testNamespace("rejected");
  const relay = createOutboxRelay({ database: env.tdb, nats, namespace, logger: silent });
  const [first] = await enqueueMany(env.tdb.db, 1, 0);
  expect(await relay.flush()).toBe(1); // creates the streams, sends the first event
  expect((await outboxRows(env.tdb.db, [first as string]))[0]?.sent_at).toBeInstanceOf(Date);

  // The stream is gone: JetStream answers the next publish with "no responders".
  await deleteStreams(await nats.manager(), namespace);
  const [second] = await enqueueMany(env.tdb.db, 1, 1);
  await expect(relay.flush()).rejects.toThrow();

  const [row] = await outboxRows(env.tdb.db, [second as string]);
  expect(row?.sent_at).toBeNull();
  expect({ attempts: row?.attempts, last_error: row?.last_error }).toEqual({
    attempts: 1,
    last_error: expect.stringMatching(/.+/),
  });
}, 15_000);

test("relay killed between publish and mark: rows stay pending, the republish is deduped, effects happen once", async () => {
  const namespace = testNamespace("crash");
  const ids = await enqueueMany(env.tdb.db, 10, 0);
  expect(env.tdb.url).toBeString();

  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "relay-process.ts")], {
    env: { ...Bun.env, FIG_TEST_DATABASE_URL: env.tdb.url, FIG_NAMESPACE: namespace, NATS_URL },
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanup.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  });
  const line = await waitForLine(proc.stdout, "PUBLISHED ", 15_000);
  const publishedBeforeCrash = line.slice("PUBLISHED ".length).split(",");
  expect([...publishedBeforeCrash].sort()).toEqual([...ids].sort());

  proc.kill("SIGKILL");
  await proc.exited;
  expect(proc.signalCode).toBe("SIGKILL");

  // Published to the stream, never marked sent.
  expect((await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at === null)).toBe(true);
  expect(await streamMessages(nats, namespace)).toBe(ids.length);

  const republished: string[] = [];
  const relay = env.relay({
    namespace,
    pollIntervalMs: 50,
    afterPublish: (batch) => {
      republished.push(...batch);
    },
  });
  const { consumer } = effectConsumer("crash", namespace);
  await consumer.start();
  await relay.start();
  // The killed relay's transaction (and its row locks) end when Postgres sees the connection drop.
  await until(async () => (await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at !== null), {
    timeoutMs: 10_000,
    message: "the second relay to send the rows the crashed one left pending",
  });
  await until(async () => (await effectCounts(env.tdb.db, ids)).size === ids.length, {
    message: "every event to be consumed",
  });
  await drained(nats, namespace, "crash");

  expect([...republished].sort()).toEqual([...ids].sort());
  expectEachOnce(await effectCounts(env.tdb.db, ids), ids);
  // JetStream's duplicate window dropped the republished copies: one message per event id.
  expect(await streamMessages(nats, namespace)).toBe(ids.length);
}, 30_000);

test("a payload stored as a jsonb string holding its JSON (Bun's SQL binding JSON text to ::jsonb) is published as the payload", async () => {
  const namespace = testNamespace("string-payload");
  const relay = env.relay({ namespace });
  const { consumer, seen } = effectConsumer("string-payload", namespace);
  await consumer.start();
  const [first, second] = await enqueueMany(env.tdb.db, 2, 0);
  // What an app stores with Bun's SQL from `${JSON.stringify(data)}::jsonb`: a string, not the object.
  await env.tdb.db.execute(sql`update outbox set data = to_jsonb(data::text) where id = ${first as string}`);
  const stored = rowsOf<{ kind: string }>(
    await env.tdb.db.execute(
      sql`select jsonb_typeof(data) as kind from outbox where id = ${first as string}`,
    ),
  );
  expect(stored).toEqual([{ kind: "string" }]);
  expect(await relay.flush()).toBe(2);
  await until(() => seen.length >= 2, { timeoutMs: 10_000, message: "both events to be applied" });
  await drained(nats, namespace, "string-payload");
  expect(seen).toEqual(["0", "1"]);
  expectEachOnce(await effectCounts(env.tdb.db, [first as string, second as string]), [
    first as string,
    second as string,
  ]);
}, 30_000);

test("one relay keeps per-subject order: 200 events arrive in the order they were enqueued", async () => {
  const namespace = testNamespace("order");
  const relay = env.relay({ namespace, pollIntervalMs: 20, batchSize: 32 });
  const { consumer, seen } = effectConsumer("order", namespace);
  await relay.start();
  await consumer.start();

  // Enqueued while the relay runs, so they go out over many batches.
  const ids = await enqueueMany(env.tdb.db, 200, 0);
  await until(() => seen.length >= 200, { timeoutMs: 15_000, message: "200 events to arrive" });
  await drained(nats, namespace, "order");

  expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
  expectEachOnce(await effectCounts(env.tdb.db, ids), ids);
}, 30_000);

test("two relays on one database deliver every event exactly once (SKIP LOCKED)", async () => {
  const namespace = testNamespace("replicas");
  const n = 300;
  const ids = await enqueueMany(env.tdb.db, n, 0);
  const publishedBy: [string[], string[]] = [[], []];
  // Relay A holds its first claimed batch (rows locked, transaction open) until relay B has published one:
  // B can only do that by skipping A's locked rows. No sleeps decide who gets what.
  const aHolds = Promise.withResolvers<void>();
  const bPublished = Promise.withResolvers<void>();
  let aHeld = false;
  const relayA = env.relay({
    namespace,
    pollIntervalMs: 20,
    batchSize: 20,
    afterPublish: async (batch) => {
      publishedBy[0].push(...batch);
      if (aHeld) return;
      aHeld = true;
      aHolds.resolve();
      // Bounded, so a relay that blocks on A's locks fails the assertions below instead of hanging the file.
      await Promise.race([bPublished.promise, Bun.sleep(20_000)]);
    },
  });
  const relayB = env.relay({
    namespace,
    pollIntervalMs: 20,
    batchSize: 20,
    afterPublish: (batch) => {
      publishedBy[1].push(...batch);
      bPublished.resolve();
    },
  });
  const { consumer } = effectConsumer("replicas", namespace);
  await consumer.start();
  await relayA.start();
  await aHolds.promise;
  const heldByA = [...publishedBy[0]];
  expect(heldByA).toHaveLength(20);
  await relayB.start();

  await until(async () => (await effectCounts(env.tdb.db, ids)).size === n, {
    timeoutMs: 25_000,
    message: `${n} events to be consumed`,
  });
  await drained(nats, namespace, "replicas");

  const [first, second] = publishedBy;
  // B published while A still held its batch, and none of A's locked rows.
  expect(second.length).toBeGreaterThan(0);
  expect(second.filter((id) => heldByA.includes(id))).toEqual([]);
  // No row was published by both relays, and none was missed.
  expect(first.length + second.length).toBe(n);
  expect([...first, ...second].sort()).toEqual([...ids].sort());
  expectEachOnce(await effectCounts(env.tdb.db, ids), ids);
  expect(await streamMessages(nats, namespace)).toBe(n);
  expect((await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at !== null)).toBe(true);
}, 40_000);

test("a full batch has the next one claimed behind it, publishing once the first is acked, before it commits", async () => {
  const namespace = testNamespace("overlap");
  const ids = await enqueueMany(env.tdb.db, 15, 0);
  const batches: string[][] = [];
  const secondPublished = Promise.withResolvers<void>();
  let secondWhileFirstOpen = false;
  let firstOpen = false;
  const relay = env.relay({
    namespace,
    batchSize: 5,
    afterPublish: async (batch) => {
      batches.push(batch);
      if (batches.length === 1) {
        // The first batch stays open (published, not marked) until the second has published.
        firstOpen = true;
        await Promise.race([secondPublished.promise, Bun.sleep(5_000)]);
        firstOpen = false;
      } else if (batches.length === 2) {
        secondWhileFirstOpen = firstOpen;
        secondPublished.resolve();
      }
    },
  });
  expect(await relay.flush()).toBe(15);
  expect(secondWhileFirstOpen).toBe(true);
  expect(batches).toEqual([ids.slice(0, 5), ids.slice(5, 10), ids.slice(10, 15)]);
  expect(await streamMessages(nats, namespace)).toBe(15);
  expect((await outboxRows(env.tdb.db, ids)).every((r) => r.sent_at !== null)).toBe(true);
}, 30_000);

test("the batch claimed behind one that fails publishes nothing: its rows do not overtake the failed ones", async () => {
  const namespace = testNamespace("behind");
  const ids = await enqueueMany(env.tdb.db, 15, 0);
  // The third row is larger than the server takes in one message: its publish fails, the two before it go out.
  const maxPayload = (await nats.connection()).info?.max_payload ?? 1024 * 1024;
  const big = (value: string) =>
    env.tdb.db.execute(
      sql`update outbox set data = jsonb_set(data, '{big}', to_jsonb(${value}::text)) where id = ${ids[2] as string}`,
    );
  await big("x".repeat(maxPayload + 1024));
  // The relay's transactions, counted as they begin and end.
  let begun = 0;
  let ended = 0;
  const real = env.tdb.db;
  const transaction = ((fn: never, config?: never) => {
    begun++;
    return real.transaction(fn, config).finally(() => ended++);
  }) as typeof real.transaction;
  const db = new Proxy(real, {
    get: (target, prop) => (prop === "transaction" ? transaction : Reflect.get(target, prop, target)),
  });
  const published: string[] = [];
  // Flushed only, never started: nothing to stop.
  const relay = createOutboxRelay({
    database: { ...env.tdb, db },
    nats,
    logger: silent,
    namespace,
    batchSize: 5,
    afterPublish: async (batch) => {
      published.push(...batch);
      // The first batch (its two rows before the failure) stays open until the batch claimed behind it has
      // ended, whatever it did.
      if (published.length === 2)
        await until(() => begun === 2 && ended === 1, { message: "the next batch to end" });
    },
  });
  await expect(relay.flush()).rejects.toThrow(/max_payload/);
  // Rows 5–9 were claimed behind the failed batch and not published.
  expect(published).toEqual(ids.slice(0, 2));
  const rows = new Map((await outboxRows(env.tdb.db, ids)).map((r) => [r.id, r]));
  expect(ids.map((id) => rows.get(id)?.sent_at !== null)).toEqual(ids.map((_, i) => i < 2));
  expect(rows.get(ids[2] as string)?.last_error).toMatch(/max_payload/);

  await big("small now");
  expect(await relay.flush()).toBe(13);
  expect(published).toEqual(ids);
  expect(await streamMessages(nats, namespace)).toBe(15);
}, 30_000);
