import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { rowsOf } from "@fig/db";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import pino from "pino";
import {
  createEventConsumer,
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  enqueueEvent,
} from "../src/index.ts";
import { effects } from "./schema.ts";

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
    type: "reference.changed",
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
      await enqueueEvent(tx, "reference.changed", {
        table: "codes",
        op: "created",
        keys: [String(i)],
        count: 1,
        truncated: false,
      });
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
