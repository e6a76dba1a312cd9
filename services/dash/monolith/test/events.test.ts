import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { rowsOf } from "@fig/db";
import {
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  enqueueEvent,
  type NatsClient,
  outbox,
  streamNames,
  subjectOf,
} from "@fig/events";
import { createLogger } from "@fig/service";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { asc, isNull, sql } from "drizzle-orm";
import { createReferenceSync } from "../../validation/src/events.ts";
import { useMonolithApp } from "./helpers.ts";

// The monolith's reference writes publish reference.changed (source monolith, with rows) on a subject of
// their own, and validation's reference sync, which follows reference-data, never takes them.
const t = useMonolithApp();
const silent = createLogger({ service: "monolith-events-test", level: "silent" });
const namespace = `m${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
let nats: NatsClient;
let validationDb: TestDatabase;
let exports: string[] = [];
let referenceData: ReturnType<typeof Bun.serve>;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "monolith-events-test" });
  validationDb = await createTestDatabase({
    service: "validation",
    migrationsFolder: fileURLToPath(new URL("../../validation/drizzle", import.meta.url)),
  });
  // Stands in for reference-data's export, which validation re-reads after an event; records what was asked.
  referenceData = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const table = new URL(req.url).pathname.split("/")[2] as string;
      exports.push(table);
      return new Response("id,name,category,severity,enabled,params\nfrom-owner,Règle,code,info,true,{}\n");
    },
  });
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  referenceData?.stop(true);
  await deleteStreams(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await validationDb?.drop();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 20_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

describe("reference.changed from the monolith", () => {
  test("a write records the event in the monolith's outbox, source monolith, with the changed row", async () => {
    const input = { code: "MONO-1", description: "Contexte du monolithe", active: true };
    expect((await t.request("/api/contexts", { method: "POST", json: input })).status).toBe(201);
    const [row] = await t.tdb.db
      .select()
      .from(outbox)
      .orderBy(asc(outbox.seq))
      .where(sql`${outbox.subject} = 'contexts/MONO-1'`);
    expect(row?.source).toBe("monolith");
    expect(row?.data).toEqual({
      table: "contexts",
      op: "created",
      keys: ["MONO-1"],
      count: 1,
      truncated: false,
      // The row as stored (version, write time) and the change's sequence, so a copy can apply it in order.
      rows: [{ ...input, version: 1, updated_at: expect.any(String) }],
      sequence: expect.any(Number),
    });
  });

  test("a deleted row and an import carry their rows too", async () => {
    const csv = "code,description,active\nMONO-2,Deux,true\nMONO-3,Trois,false\n";
    const imported = await t.request("/api/contexts/import", {
      method: "POST",
      body: csv,
      headers: { "content-type": "text/csv" },
    });
    expect(imported.status).toBe(200);
    expect((await t.request("/api/contexts/MONO-2", { method: "DELETE" })).status).toBe(204);
    const rows = await t.tdb.db.select().from(outbox).orderBy(asc(outbox.seq));
    const [importEvent, deleteEvent] = rows.slice(-2).map((r) => r.data);
    expect(importEvent).toMatchObject({
      op: "imported",
      keys: ["MONO-2", "MONO-3"],
      rows: [
        { code: "MONO-2", description: "Deux", active: true },
        { code: "MONO-3", description: "Trois", active: false },
      ],
    });
    expect(deleteEvent).toMatchObject({
      op: "deleted",
      keys: ["MONO-2"],
      rows: [{ code: "MONO-2", description: "Deux", active: true }],
    });
  });

  test("published on its own subject; validation's reference sync ignores it and takes reference-data's", async () => {
    // The monolith's own write, then reference-data's event as its relay publishes it (owner source, the
    // plain subject): the stream holds one of each, the monolith's first.
    const input = { code: "MONO-9", description: "Sujet du monolithe", active: true };
    expect((await t.request("/api/contexts", { method: "POST", json: input })).status).toBe(201);
    await t.tdb.db.transaction((tx) =>
      enqueueEvent(tx as never, "reference.changed", {
        table: "rules",
        op: "created",
        keys: ["from-owner"],
        count: 1,
        truncated: false,
      }),
    );
    const relay = createOutboxRelay({ database: t.tdb, nats, namespace, logger: silent, pollIntervalMs: 50 });
    await relay.start();
    stops.push(() => relay.stop());
    await until("the outbox to drain", async () => {
      const left = await t.tdb.db.select().from(outbox).where(isNull(outbox.sent_at));
      return left.length === 0 ? true : undefined;
    });

    const jsm = await nats.manager();
    const stream = streamNames(namespace).events;
    const mono = await jsm.streams.getMessage(stream, {
      last_by_subj: subjectOf(namespace, "reference.changed", "monolith"),
    });
    expect(mono?.subject).toBe(`${namespace}.events.reference.changed.monolith`);
    expect(mono?.header.get("ce-source")).toBe("monolith");
    expect(mono?.header.get("ce-subject")).toBe("contexts/MONO-9");
    const owner = await jsm.streams.getMessage(stream, {
      last_by_subj: subjectOf(namespace, "reference.changed"),
    });
    expect(owner?.header.get("ce-source")).toBe("reference-data");
    expect((owner?.seq ?? 0) > (mono?.seq ?? 0)).toBe(true);

    exports = [];
    const sync = createReferenceSync({
      database: validationDb,
      nats,
      namespace,
      logger: silent,
      source: { url: `http://127.0.0.1:${referenceData.port}`, token: "unused-by-the-stand-in" },
    });
    await sync.start();
    stops.push(() => sync.stop());
    // The owner's event comes after the monolith's in the stream: once it is applied, the consumer has passed them.
    await until("validation to apply reference-data's event", async () => {
      const rows = rowsOf<{ id: string }>(
        await validationDb.db.execute(sql`select id from ref_rules where id = 'from-owner'`),
      );
      return rows.length === 1 ? true : undefined;
    });
    expect(exports).toEqual(["rules"]);
    const inbox = rowsOf<{ n: number }>(
      await validationDb.db.execute(sql`select count(*)::int as n from inbox`),
    );
    expect(inbox[0]?.n).toBe(1);
  });
});
