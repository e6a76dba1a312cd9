import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createAuditRecorder, databaseChainSource, readChain, verifyChain } from "@fig/audit";
import { envelopeHeaders, subjectOf } from "@fig/events";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { createAuditConsumers } from "../src/consumer.ts";
import { eventually, MIGRATIONS, silent, testNamespace } from "./helpers.ts";

let tdb: TestDatabase;
let ns: Awaited<ReturnType<typeof testNamespace>>;
let consumers: ReturnType<typeof createAuditConsumers>;

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "audit-consumer", migrationsFolder: MIGRATIONS });
  ns = await testNamespace("consumer");
  consumers = createAuditConsumers({ database: tdb, nats: ns.nats, namespace: ns.namespace, logger: silent });
  await consumers.start();
});
afterAll(async () => {
  await consumers.stop();
  await ns.drop();
  await tdb.drop();
});

async function entries() {
  const all = [];
  for await (const entry of readChain(tdb.db)) all.push(entry);
  return all;
}

describe("audit consumer", () => {
  test("a recorded act is appended once, even when delivered again", async () => {
    const recorder = createAuditRecorder({
      nats: ns.nats,
      namespace: ns.namespace,
      source: "test",
      logger: silent,
    });
    const eventId = crypto.randomUUID();
    const ok = await recorder.record({
      eventId,
      actor: { sub: "alice", tenant: "platform" },
      kind: "weights",
      subject: "validation",
      from: { monolith: 100, validation: 0 },
      to: { monolith: 90, validation: 10 },
      reason: "canary",
    });
    expect(ok).toBe(true);
    await eventually(entries, (all) => all.some((e) => e.eventId === eventId));

    // The same event again under another Nats-Msg-Id, so the broker's own dedupe does not drop it: as a
    // redelivery after a crash between append and ack would arrive. Then a marker, to know both were consumed.
    const js = await ns.nats.jetstream();
    const [first] = (await entries()).filter((e) => e.eventId === eventId);
    const { seq: _seq, eventId: _id, prevHash: _p, hash: _h, ...record } = first as NonNullable<typeof first>;
    const headers = envelopeHeaders({
      id: eventId,
      type: "audit.recorded",
      source: "test",
      time: record.at,
      data: record,
    });
    const subject = subjectOf(ns.namespace, "audit.recorded", "test");
    await js.publish(subject, JSON.stringify(record), { headers, msgID: `${eventId}-again` });
    const marker = crypto.randomUUID();
    await recorder.record({ eventId: marker, actor: { sub: "alice", tenant: "platform" }, kind: "state" });
    const all = await eventually(entries, (list) => list.some((e) => e.eventId === marker));

    expect(all.filter((e) => e.eventId === eventId)).toHaveLength(1);
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(await verifyChain(databaseChainSource(tdb.db))).toMatchObject({ ok: true, count: all.length });
    await recorder.stop();
  });

  test("an identity event becomes an entry of the same chain", async () => {
    const js = await ns.nats.jetstream();
    const id = crypto.randomUUID();
    const data = { email: "mallory@acme.test", ip: "203.0.113.9", reason: "bad_credentials" as const };
    const headers = envelopeHeaders({
      id,
      type: "identity.login.failed",
      source: "identity",
      time: new Date().toISOString(),
      tenant: "acme",
      data,
    });
    await js.publish(subjectOf(ns.namespace, "identity.login.failed"), JSON.stringify(data), {
      headers,
      msgID: id,
    });
    const all = await eventually(entries, (list) => list.some((e) => e.eventId === id));
    expect(all.find((e) => e.eventId === id)).toMatchObject({
      kind: "identity.login-failed",
      actor: { sub: "203.0.113.9", tenant: "acme" },
      subject: "mallory@acme.test",
      reason: "bad_credentials",
    });
    expect(await verifyChain(databaseChainSource(tdb.db))).toMatchObject({ ok: true });
  });
});
