import { expect, test } from "bun:test";
import { type Backoff, constantBackoff } from "@fig/retry";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Logger } from "pino";
import {
  type DeadLetter,
  type EventHandler,
  ensureStreams,
  envelopeHeaders,
  type FigEvent,
  listDeadLetters,
  replayDeadLetter,
  showDeadLetter,
  streamNames,
  subjectOf,
} from "../src/index.ts";
import {
  capturingLogger,
  changed,
  drained,
  effectCounts,
  eventsTestEnv,
  eventually,
  makeEvent,
  publishDirect,
  until,
} from "./helpers.ts";
import { effects } from "./schema.ts";

const env = eventsTestEnv("events-consumer-test");
const { nats, testNamespace } = env;

async function startConsumer(
  name: string,
  namespace: string,
  handler: EventHandler<"reference.changed">,
  options: { maxDeliver?: number; backoff?: Backoff; ackWaitMs?: number; logger?: Logger } = {},
) {
  const consumer = env.consumer({ name, type: "reference.changed", namespace, handler, ...options });
  // The streams exist before anything is published (the consumer also ensures them, but asynchronously).
  await ensureStreams(await nats.manager(), namespace);
  await consumer.start();
  return consumer;
}

/** A consumer "strict" whose handler only records what reaches it; returns that record. */
async function startStrictConsumer(namespace: string): Promise<string[]> {
  const handled: string[] = [];
  await startConsumer(
    "strict",
    namespace,
    async (event) => {
      handled.push(event.id);
    },
    { maxDeliver: 5, backoff: constantBackoff(50) },
  );
  return handled;
}

async function deadLetters(namespace: string, count: number, timeoutMs = 15_000): Promise<DeadLetter[]> {
  return until(
    async () => {
      const letters = await listDeadLetters(nats, namespace).catch(() => []);
      return letters.length >= count ? letters : undefined;
    },
    { timeoutMs, message: `${count} dead letter(s) in ${namespace}` },
  );
}

test("a failing handler is retried with backoff, dead-lettered after maxDeliver, and replayed once fixed", async () => {
  const namespace = testNamespace("retry");
  const deliveries: number[] = [];
  let failing = true;
  const { logger, records } = capturingLogger();
  await startConsumer(
    "flaky",
    namespace,
    async (event, tx) => {
      deliveries.push(Date.now());
      await tx.insert(effects).values({ event_id: event.id });
      // Thrown after a write: the write must roll back with the inbox row.
      if (failing) throw new Error(`downstream unavailable (delivery ${deliveries.length})`);
    },
    { maxDeliver: 3, backoff: { initialMs: 100, maxMs: 300, factor: 3 }, logger },
  );
  const js = await nats.jetstream();
  const event = makeEvent({ data: changed(7) });
  await publishDirect(js, namespace, event);

  const [letter] = await deadLetters(namespace, 1);
  expect(deliveries).toHaveLength(3);
  // The delay asked of the broker for each failure: 100 ms, then 300 ms (the backoff's first two steps).
  const retries = records.filter((r) => r.msg === "event: handler failed; will retry");
  expect(retries.map((r) => ({ deliveries: r.deliveries, retryInMs: r.retryInMs }))).toEqual([
    { deliveries: 1, retryInMs: 100 },
    { deliveries: 2, retryInMs: 300 },
  ]);
  // And the broker honoured it: never redelivered early (late is only a slow machine, so no upper bound).
  // 5 ms of slack for the millisecond clock.
  expect((deliveries[1] as number) - (deliveries[0] as number)).toBeGreaterThanOrEqual(95);
  expect((deliveries[2] as number) - (deliveries[1] as number)).toBeGreaterThanOrEqual(295);

  expect(letter).toMatchObject({
    consumer: "flaky",
    error: "downstream unavailable (delivery 3)",
    deliveries: 3,
    subject: subjectOf(namespace, "reference.changed"),
    eventId: event.id,
    eventType: "reference.changed",
  });
  expect(JSON.parse(letter?.data ?? "")).toEqual(changed(7));
  expect(letter?.deadLetteredAt).toBeString();
  expect(await showDeadLetter(nats, namespace, letter?.seq as number)).toEqual(letter as DeadLetter);
  expect((await effectCounts(env.tdb.db, [event.id])).size).toBe(0);
  // Terminated: the consumer holds nothing for it any more.
  await drained(nats, namespace, "flaky");
  expect(deliveries).toHaveLength(3);

  failing = false;
  const replayed = await replayDeadLetter(nats, namespace, letter?.seq as number);
  expect(replayed.eventId).toBe(event.id);
  await until(async () => (await effectCounts(env.tdb.db, [event.id])).get(event.id) === 1, {
    timeoutMs: 15_000,
    message: "the replayed event to be applied",
  });
  await drained(nats, namespace, "flaky");
  expect((await effectCounts(env.tdb.db, [event.id])).get(event.id)).toBe(1);
  expect(deliveries).toHaveLength(4);
  expect(await listDeadLetters(nats, namespace)).toEqual([]);
  expect(await showDeadLetter(nats, namespace, letter?.seq as number)).toBeNull();
}, 30_000);

test("malformed messages go straight to the dead-letter stream, without retries", async () => {
  const namespace = testNamespace("malformed");
  const handled = await startStrictConsumer(namespace);
  const js = await nats.jetstream();
  const subject = subjectOf(namespace, "reference.changed");

  const ce = (type: string, id: string) => {
    const h = natsHeaders();
    h.set("ce-specversion", "1.0");
    h.set("ce-id", id);
    h.set("ce-type", type);
    h.set("ce-source", "somebody");
    h.set("ce-time", new Date().toISOString());
    return h;
  };
  await js.publish(subject, "{not json", { headers: ce("reference.changed", "bad-json"), msgID: "bad-json" });
  await js.publish(subject, JSON.stringify(changed(1)), {
    headers: ce("widget.exploded", "unknown-type"),
    msgID: "unknown-type",
  });
  await js.publish(subject, JSON.stringify(changed(2)), { msgID: "no-headers" });

  const letters = await deadLetters(namespace, 3);
  expect(letters).toHaveLength(3);
  expect(
    letters.map((l) => ({ consumer: l.consumer, deliveries: l.deliveries, subject: l.subject })),
  ).toEqual(Array(3).fill({ consumer: "strict", deliveries: 1, subject }));
  expect(letters[0]).toMatchObject({ eventId: "bad-json", error: "data is not JSON", data: "{not json" });
  expect(letters[1]).toMatchObject({ eventId: "unknown-type", error: "unknown event type widget.exploded" });
  expect(letters[2]).toMatchObject({ eventId: undefined, error: "not a CloudEvents 1.0 message" });
  await drained(nats, namespace, "strict");
  expect(handled).toEqual([]);
});

test("data that does not match the catalog schema is dead-lettered at once, with the validation error", async () => {
  const namespace = testNamespace("mismatch");
  const handled = await startStrictConsumer(namespace);
  const js = await nats.jetstream();
  const event = makeEvent();
  // Valid CloudEvents headers; data that fails the reference.changed schema.
  await js.publish(subjectOf(namespace, "reference.changed"), JSON.stringify({ table: "planets" }), {
    msgID: event.id,
    headers: envelopeHeaders(event),
  });

  const [letter] = await deadLetters(namespace, 1);
  expect(letter).toMatchObject({ consumer: "strict", deliveries: 1, eventId: event.id });
  expect(letter?.error).toStartWith("data does not match reference.changed");
  expect(letter?.error).toContain("table");
  expect(JSON.parse(letter?.data ?? "")).toEqual({ table: "planets" });
  await drained(nats, namespace, "strict");
  expect(handled).toEqual([]);
}, 30_000);

test("a handler error with a multi-line message is dead-lettered too", async () => {
  const namespace = testNamespace("multiline");
  let calls = 0;
  await startConsumer(
    "multiline",
    namespace,
    async () => {
      calls++;
      // Errors often span lines (zod issues, SQL detail): the dead letter must still be written.
      throw new Error("invalid row\n  at line 2\r\n  and more");
    },
    { maxDeliver: 2, backoff: constantBackoff(50) },
  );
  const js = await nats.jetstream();
  const event = makeEvent();
  await publishDirect(js, namespace, event);

  const [letter] = await deadLetters(namespace, 1);
  expect(letter).toMatchObject({ consumer: "multiline", deliveries: 2, eventId: event.id });
  expect(letter?.error).toContain("invalid row");
  expect(letter?.error).toContain("and more");
  expect(calls).toBe(2);
}, 30_000);

test("the same event delivered twice (different Nats-Msg-Id) is applied once: the inbox dedupes", async () => {
  const namespace = testNamespace("dupes");
  const received: FigEvent<"reference.changed">[] = [];
  await startConsumer("dedupe", namespace, async (event, tx) => {
    received.push(event);
    await tx.insert(effects).values({ event_id: event.id });
  });
  const js = await nats.jetstream();
  const event = makeEvent({
    data: changed(42),
    subject: "codes/42",
    tenant: "acme",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  });
  const first = await publishDirect(js, namespace, event, `${event.id}:a`);
  const second = await publishDirect(js, namespace, event, `${event.id}:b`);
  expect(first.duplicate).toBe(false);
  expect(second.duplicate).toBe(false); // the broker kept both: only the inbox can dedupe

  await until(async () => (await effectCounts(env.tdb.db, [event.id])).get(event.id), {
    message: "the event to be applied",
  });
  const info = await drained(nats, namespace, "dedupe");
  expect(info.delivered.stream_seq).toBe(second.seq);
  expect(info.ack_floor.stream_seq).toBe(second.seq);

  expect((await effectCounts(env.tdb.db, [event.id])).get(event.id)).toBe(1);
  expect(received).toHaveLength(1);
  // The CloudEvents attributes survived the trip through NATS.
  expect(received[0]).toEqual(event);
});

test("stop() waits for the in-flight handler to commit and ack; a new instance does not get it again", async () => {
  const namespace = testNamespace("stop");
  let started: string | undefined;
  // The handler stays in flight until the test has called stop(): no race with a sleep.
  const release = Promise.withResolvers<void>();
  const first = await startConsumer(
    "graceful",
    namespace,
    async (event, tx) => {
      started = event.id;
      await release.promise;
      await tx.insert(effects).values({ event_id: event.id });
    },
    { ackWaitMs: 1000 },
  );
  const js = await nats.jetstream();
  const event = makeEvent({ data: changed(1) });
  const ack = await publishDirect(js, namespace, event);
  await until(() => started === event.id, { message: "the handler to start" });

  let stopReturned = false;
  const stopping = first.stop().then(() => {
    stopReturned = true;
  });
  // stop() cannot return while the handler holds: give it every chance to (the pull loop closes meanwhile).
  await until(async () => (await nats.manager()).consumers.info(streamNames(namespace).events, "graceful"), {
    message: "the consumer info",
  });
  expect(stopReturned).toBe(false);
  release.resolve();
  await stopping;
  // Committed before stop() returned.
  expect((await effectCounts(env.tdb.db, [event.id])).get(event.id)).toBe(1);
  // And acked: the durable consumer holds nothing unacknowledged.
  await eventually(async () => {
    const info = await (await nats.manager()).consumers.info(streamNames(namespace).events, "graceful");
    expect(info.num_ack_pending).toBe(0);
    expect(info.ack_floor.stream_seq).toBe(ack.seq);
  }, 10_000);

  const seen: string[] = [];
  await startConsumer("graceful", namespace, async (e, tx) => {
    seen.push(e.id);
    await tx.insert(effects).values({ event_id: e.id });
  });
  const next = makeEvent({ data: changed(2) });
  await publishDirect(js, namespace, next);
  await until(() => seen.includes(next.id), { message: "the next event to reach the new instance" });
  await drained(nats, namespace, "graceful");
  expect(seen).toEqual([next.id]);
  expect((await effectCounts(env.tdb.db, [event.id])).get(event.id)).toBe(1);
}, 30_000);
