import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { rowsOf } from "@fig/db";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import pino from "pino";
import { z } from "zod";
import {
  createEventConsumer,
  createNatsClient,
  createOutboxRelay,
  defineEvent,
  deleteStreams,
  EventRegistrationError,
  type EventType,
  enqueueEvent,
  registerEvents,
} from "../src/index.ts";
import { effects } from "./schema.ts";

// The package's own test declares its own event, as any system does: no other system's catalog is loaded.
const smokeEvents = {
  "smoke.happened": defineEvent({
    type: "smoke.happened",
    version: 1,
    source: "events-smoke",
    tenantOwned: false,
    description: "A test event of packages/events' smoke test.",
    schema: z.object({ n: z.number().int() }).strict(),
  }),
} as const;
registerEvents(smokeEvents);
declare module "../src/catalog.ts" {
  interface EventRegistry {
    "smoke.happened": (typeof smokeEvents)["smoke.happened"];
  }
}

const logger = pino({ level: "silent" });
const namespace = `t${crypto.randomUUID().slice(0, 8)}`;
let tdb: TestDatabase;
const nats = createNatsClient({ servers: TEST_NATS_URL, name: "events-smoke" });

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "events", migrationsFolder: join(import.meta.dir, "drizzle") });
});
afterAll(async () => {
  await deleteStreams(await nats.manager(), namespace);
  await nats.close();
  await tdb.drop();
});

test("smoke: outbox → relay → consumer", async () => {
  const relay = createOutboxRelay({ database: tdb, nats, namespace, logger, pollIntervalMs: 50 });
  const consumer = createEventConsumer({
    name: "smoke",
    type: "smoke.happened",
    database: tdb,
    nats,
    namespace,
    logger,
    handler: async (event, tx) => {
      await tx.insert(effects).values({ event_id: event.id });
    },
  });
  await relay.start();
  await consumer.start();
  for (let i = 0; i < 20; i++) {
    await tdb.db.transaction(async (tx) => {
      await enqueueEvent(tx, "smoke.happened", { n: i });
    });
  }
  const deadline = Date.now() + 10_000;
  let n = 0;
  while (Date.now() < deadline) {
    n = rowsOf<{ n: number }>(await tdb.db.execute(sql`select count(*)::int as n from effects`))[0]?.n ?? 0;
    if (n >= 20) break;
    await Bun.sleep(50);
  }
  await consumer.stop();
  await relay.stop();
  expect(n).toBe(20);
});

test("writing an event type nobody registered is refused by name, and writes nothing", async () => {
  const write = tdb.db.transaction(async (tx) => {
    await tx.insert(effects).values({ event_id: "never-committed" });
    await enqueueEvent(tx, "nobody.declared" as EventType, { n: 1 } as never);
  });
  await expect(write).rejects.toThrow(EventRegistrationError);
  await expect(write).rejects.toThrow(/unknown event type nobody\.declared: declare it/);
  const rows = rowsOf<{ n: number }>(
    await tdb.db.execute(sql`select count(*)::int as n from effects where event_id = 'never-committed'`),
  );
  expect(rows[0]?.n).toBe(0);
});
