import { afterAll, beforeAll, expect, test } from "bun:test";
import type { JsMsg } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  createNatsClient,
  deleteStreams,
  ensureStreams,
  envelopeHeaderBlock,
  readMessageEnvelope,
  streamNames,
  subjectOf,
} from "../src/index.ts";
import { ackedPublisher, type OutgoingMessage } from "../src/publisher.ts";
import { changed, NATS_URL, uniqueNamespace } from "./helpers.ts";
import "../../dash/reference/src/event-catalog.ts";

const namespace = uniqueNamespace();
const nats = createNatsClient({ servers: NATS_URL, name: "events-publisher-test" });
const subject = subjectOf(namespace, "reference.changed");

beforeAll(async () => {
  await ensureStreams(await nats.manager(), namespace);
});
afterAll(async () => {
  await deleteStreams(await nats.manager(), namespace);
  await nats.close();
});

function message(i: number, id = crypto.randomUUID(), extraHeader = ""): OutgoingMessage {
  const block = envelopeHeaderBlock(
    { id, type: "reference.changed", source: "reference-data", time: new Date().toISOString() },
    id,
  );
  return {
    subject,
    // An extra header goes before the blank line that ends the block.
    headers: extraHeader ? `${block.slice(0, -2)}${extraHeader}\r\n\r\n` : block,
    data: JSON.stringify(changed(i)),
  };
}

/** The stream's messages from `fromSeq` on, read back as events. */
async function readBack(fromSeq: number, n: number) {
  const js = await nats.jetstream();
  const jsm = await nats.manager();
  const stream = streamNames(namespace).events;
  const name = `read${crypto.randomUUID().slice(0, 8)}`;
  await jsm.consumers.add(stream, {
    name,
    opt_start_seq: fromSeq,
    deliver_policy: "by_start_sequence" as never,
  });
  const consumer = await js.consumers.get(stream, name);
  const events = [];
  for (let i = 0; i < n; i++) {
    const msg = (await consumer.next({ expires: 5000 })) as JsMsg | null;
    if (!msg) throw new Error(`only ${i} of ${n} messages in the stream`);
    events.push({ seq: msg.seq, event: readMessageEnvelope(msg) });
  }
  await jsm.consumers.delete(stream, name);
  return events;
}

async function lastSeq() {
  return (await (await nats.manager()).streams.info(streamNames(namespace).events)).state.last_seq;
}

test("a batch is stored in the order given, with its headers as sent, and every message reports stored", async () => {
  const publisher = ackedPublisher(await nats.connection());
  const before = await lastSeq();
  const batch = Array.from({ length: 300 }, (_, i) => message(i));
  const results = await publisher.publish(batch, 5000);
  expect(results).toEqual(new Array(300).fill(undefined));
  const stored = await readBack(before + 1, 300);
  expect(stored.map((s) => (s.event.data as { keys: string[] }).keys[0])).toEqual(
    batch.map((_, i) => String(i)),
  );
  expect(stored.map((s) => s.event.id)).toEqual(
    batch.map((m) => /ce-id: (\S+)/.exec(m.headers)?.[1] as string),
  );
});

test("a Nats-Msg-Id the stream has seen is dropped by the broker and still reports stored", async () => {
  const publisher = ackedPublisher(await nats.connection());
  const id = crypto.randomUUID();
  expect(await publisher.publish([message(1, id)], 5000)).toEqual([undefined]);
  const after = await lastSeq();
  expect(await publisher.publish([message(1, id), message(2)], 5000)).toEqual([undefined, undefined]);
  // The copy was dropped: only the second message was added.
  expect(await lastSeq()).toBe(after + 1);
});

test("a message the stream rejects fails alone; the others of its batch are stored", async () => {
  const publisher = ackedPublisher(await nats.connection());
  const before = await lastSeq();
  const results = await publisher.publish(
    [message(1), message(2, undefined, "\r\nNats-Expected-Stream: NOT_THIS_ONE"), message(3)],
    5000,
  );
  expect(results[0]).toBeUndefined();
  expect(results[1]?.message).toMatch(/JetStream rejected the message: .*stream/i);
  expect(results[2]).toBeUndefined();
  expect(await lastSeq()).toBe(before + 2);
});

test("a subject no stream takes fails every message with no responders", async () => {
  const publisher = ackedPublisher(await nats.connection());
  const results = await publisher.publish(
    [1, 2].map((i) => ({ ...message(i), subject: `${uniqueNamespace()}.events.reference.changed` })),
    5000,
  );
  expect(results.map((r) => r?.message)).toEqual([
    expect.stringMatching(/no responders/),
    expect.stringMatching(/no responders/),
  ]);
});

test("a message nobody acks fails after the batch's timeout, the acked ones of its batch do not", async () => {
  const publisher = ackedPublisher(await nats.connection());
  // A core subscriber takes the subject and never answers: the broker has no stream for it.
  const silentSubject = `${uniqueNamespace()}.silent`;
  const nc = await nats.connection();
  const received = Promise.withResolvers<void>();
  const sub = nc.subscribe(silentSubject, { callback: () => received.resolve() });
  await nc.flush();
  try {
    const results = await publisher.publish([message(1), { ...message(2), subject: silentSubject }], 300);
    await received.promise;
    expect(results[0]).toBeUndefined();
    expect(results[1]?.message).toMatch(/no JetStream ack within 300 ms/);
  } finally {
    sub.unsubscribe();
  }
});

test("once its connection is closed, every message fails at once", async () => {
  const nc = await connect({ servers: NATS_URL, name: "events-publisher-test-closed" });
  const publisher = ackedPublisher(nc);
  expect(await publisher.publish([message(0)], 5000)).toEqual([undefined]);
  await nc.close();
  const results = await publisher.publish([message(1), message(2)], 60_000);
  expect(results.map((r) => r?.name)).toEqual(["ClosedConnectionError", "ClosedConnectionError"]);
});
