import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createReadCacheFeed, createReferenceReadCache, type ReadCacheFeed } from "@dash/reference";
import {
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  type NatsClient,
  type OutboxRelay,
} from "@fig/events";
import { createLogger } from "@fig/service";
import { createTestAuth, createTestDatabase, natsServerBinary, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import { buildApp } from "../src/app.ts";
import { codeInput, MIGRATIONS } from "./helpers.ts";
import { uniqueNamespace, until } from "./sync-helpers.ts";
import { freePort } from "./sync-processes.ts";

// A replica whose NATS goes away: a nats-server of this test's own (the shared one cannot be stopped), killed by
// pid and started again on the same store directory. Meanwhile the replica must read the database.
const namespace = uniqueNamespace("readcachedown");
const storeDir = mkdtempSync(join(tmpdir(), "fig-read-cache-nats-"));
const natsPort = freePort();
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const auth = createTestAuth();
const logger = createLogger({ service: "reference-data", level: "silent" });
const cache = createReferenceReadCache();
let server: Bun.Subprocess | undefined;
let tdb: TestDatabase;
let nats: NatsClient;
let writerNats: NatsClient;
let relay: OutboxRelay;
let feed: ReadCacheFeed;
let app: ReturnType<typeof buildApp>;
let writer: ReturnType<typeof buildApp>;
const consumed: string[] = [];

async function startNats() {
  const proc = Bun.spawn(
    [natsServerBinary(), "-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", storeDir],
    { stdout: "ignore", stderr: "ignore" },
  );
  const probe = createNatsClient({ servers: natsUrl, name: "read-cache-probe" });
  await until("own nats-server up", () => probe.check().then(() => true));
  await probe.close();
  return proc;
}

async function get(code: string) {
  const token = await auth.token({ roles: ["viewer"] });
  const res = await app.request(`/api/codes/${code}`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  tdb = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: MIGRATIONS,
    requiresServer: "a database shared by a writer and a reader",
  });
  server = await startNats();
  nats = createNatsClient({ servers: natsUrl, name: "read-cache-reader" });
  writerNats = createNatsClient({ servers: natsUrl, name: "read-cache-writer" });
  feed = createReadCacheFeed({
    cache,
    nats,
    namespace,
    logger,
    retryMs: 200,
    onInvalidated: (event) => consumed.push(...event.data.keys),
  });
  app = buildApp({ db: tdb.db, verifier: auth.verifier, logger, cache });
  writer = buildApp({ db: tdb.db, verifier: auth.verifier, logger });
  relay = createOutboxRelay({ database: tdb, nats: writerNats, namespace, logger, pollIntervalMs: 200 });
  await relay.start();
  feed.start();
  await until("feed online", async () => (cache.online ? true : undefined));
  const admin = await auth.token({ roles: ["admin"] });
  const res = await writer.request("/api/codes", {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify(codeInput("63001")),
  });
  expect(res.status).toBe(201);
  // Its event would drop what the test caches first: let it arrive.
  await until("the create's event consumed", async () => (consumed.includes("63001") ? true : undefined));
}, 60_000);

afterAll(async () => {
  await feed?.stop();
  await relay?.stop();
  await deleteStreams(await writerNats.manager(), namespace).catch(() => {});
  await nats?.close();
  await writerNats?.close();
  if (server && server.exitCode === null) {
    server.kill("SIGKILL");
    await server.exited;
  }
  rmSync(storeDir, { recursive: true, force: true });
  await tdb?.drop();
});

test("with NATS down the replica reads the database; back up, it caches and follows events again", async () => {
  await get("63001");
  const hits = cache.stats().hits;
  await get("63001");
  expect(cache.stats().hits).toBe(hits + 1);

  server?.kill("SIGKILL");
  await server?.exited;
  await until("cache offline once NATS is gone", async () => (cache.online ? undefined : true));
  // A change whose event cannot be delivered now: the replica must not keep answering the old row.
  await tdb.db.execute(
    sql`update codes set description = 'written while NATS was down' where code = '63001'`,
  );
  expect((await get("63001")).description).toBe("written while NATS was down");
  expect((await get("63001")).description).toBe("written while NATS was down");
  expect(cache.stats().hits).toBe(hits + 1);

  server = await startNats();
  await until("cache online again", async () => (cache.online ? true : undefined));
  await get("63001");
  const before = await get("63001");
  expect(cache.stats().hits).toBeGreaterThan(hits + 1);
  // The feed follows events again: a write through the other app reaches this replica's cache.
  const admin = await auth.token({ roles: ["admin"] });
  consumed.length = 0;
  const patched = await writer.request("/api/codes/63001", {
    method: "PATCH",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", "if-match": "*" },
    body: JSON.stringify({ tariff_cents: 9999 }),
  });
  expect(patched.status).toBe(200);
  await until("the PATCH's event consumed", async () => (consumed.includes("63001") ? true : undefined));
  const after = await get("63001");
  expect(after.tariff_cents).toBe(9999);
  expect(after.version).toBe((before.version as number) + 1);
}, 120_000);
