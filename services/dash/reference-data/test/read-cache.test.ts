import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createReadCacheFeed,
  createReferenceReadCache,
  type ReadCacheFeed,
  type ReferenceReadCache,
} from "@dash/reference";
import {
  createNatsClient,
  createOutboxRelay,
  deleteNamespace,
  type FigEvent,
  type NatsClient,
  type OutboxRelay,
} from "@fig/events";
import { createLogger } from "@fig/service";
import { createTestAuth, createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import { buildApp } from "../src/app.ts";
import { CODE_HEADER, codeInput, codeLine, MIGRATIONS } from "./helpers.ts";
import { uniqueNamespace, until } from "./sync-helpers.ts";

// Two replicas of reference-data on one database and one NATS namespace, each with its own connection, read
// cache and feed, as two processes would have; replica A's outbox relay publishes both replicas' events.
type Replica = {
  nats: NatsClient;
  cache: ReferenceReadCache;
  feed: ReadCacheFeed;
  app: ReturnType<typeof buildApp>;
  consumed: FigEvent<"reference.changed">[];
  waiters: { match: (e: FigEvent<"reference.changed">) => boolean; resolve: () => void }[];
};

const namespace = uniqueNamespace("readcache");
const auth = createTestAuth();
const logger = createLogger({ service: "reference-data", level: "silent" });
let tdb: TestDatabase;
let relay: OutboxRelay;
let a: Replica;
let b: Replica;
const tokens: Record<string, string> = {};

function replica(db: TestDatabase, name: string): Replica {
  const nats = createNatsClient({ servers: TEST_NATS_URL, name });
  const cache = createReferenceReadCache();
  const r = { nats, cache, consumed: [], waiters: [] } as unknown as Replica;
  r.feed = createReadCacheFeed({
    cache,
    nats,
    namespace,
    logger,
    onInvalidated(event) {
      r.consumed.push(event);
      for (const w of [...r.waiters])
        if (w.match(event)) {
          r.waiters.splice(r.waiters.indexOf(w), 1);
          w.resolve();
        }
    },
  });
  r.app = buildApp({ db: db.db, verifier: auth.verifier, logger, cache });
  return r;
}

/** Resolves once `r`'s feed has applied an event of `table` naming `key` (register before the write). */
function consumedOn(r: Replica, table: string, key: string, op?: string): Promise<void> {
  return new Promise((resolve) =>
    r.waiters.push({
      match: (e) =>
        e.data.table === table &&
        (e.data.truncated || e.data.keys.includes(key)) &&
        (!op || e.data.op === op),
      resolve,
    }),
  );
}

async function call(
  r: Replica,
  method: string,
  path: string,
  init: { json?: unknown; headers?: Record<string, string>; body?: string; as?: string } = {},
) {
  const role = init.as ?? (method === "GET" ? "viewer" : "admin");
  tokens[role] ??= await auth.token({ roles: [role as "viewer"] });
  const headers: Record<string, string> = { authorization: `Bearer ${tokens[role]}`, ...init.headers };
  let body = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers["content-type"] = "application/json";
  }
  return r.app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
}

async function getCode(r: Replica, code: string) {
  const res = await call(r, "GET", `/api/codes/${code}`);
  return {
    status: res.status,
    etag: res.headers.get("etag"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

beforeAll(async () => {
  tdb = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: MIGRATIONS,
    requiresServer: "two replicas on one database",
  });
  a = replica(tdb, "replica-a");
  b = replica(tdb, "replica-b");
  relay = createOutboxRelay({ database: tdb, nats: a.nats, namespace, logger, pollIntervalMs: 200 });
  await relay.start();
  a.feed.start();
  b.feed.start();
  await until("both feeds online", async () => (a.cache.online && b.cache.online ? true : undefined));
}, 60_000);

afterAll(async () => {
  await a?.feed.stop();
  await b?.feed.stop();
  await relay?.stop();
  await deleteNamespace(await a.nats.manager(), namespace).catch(() => {});
  await a?.nats.close();
  await b?.nats.close();
  await tdb?.drop();
});

describe("read cache across two replicas", () => {
  test("B answers from memory until the event of A's write arrives, then the new version at once", async () => {
    const created = consumedOn(b, "codes", "61001", "created");
    expect((await call(a, "POST", "/api/codes", { json: codeInput("61001") })).status).toBe(201);
    await created;
    const first = await getCode(b, "61001");
    expect(first.status).toBe(200);
    expect(first.body.version).toBe(1);
    const hitsBefore = b.cache.stats().hits;
    expect(await getCode(b, "61001")).toEqual(first);
    expect(b.cache.stats().hits).toBe(hitsBefore + 1);

    // A change no event announces stays unseen: B really answers from memory (until the TTL).
    await tdb.db.execute(sql`update codes set description = 'changed behind the cache' where code = '61001'`);
    expect((await getCode(b, "61001")).body.description).toBe(first.body.description);

    const updated = consumedOn(b, "codes", "61001", "updated");
    const patch = await call(a, "PATCH", "/api/codes/61001", {
      json: { tariff_cents: 7777 },
      headers: { "if-match": first.etag as string },
    });
    expect(patch.status).toBe(200);
    await updated;
    const after = await getCode(b, "61001");
    expect(after.body).toMatchObject({ version: 2, tariff_cents: 7777 });
    expect(after.etag).toBe(patch.headers.get("etag"));
    expect(after.etag).not.toBe(first.etag);
  });

  test("ETag and 304 hold for answers from memory", async () => {
    const current = await getCode(b, "61001");
    const hits = b.cache.stats().hits;
    const res = await call(b, "GET", "/api/codes/61001", {
      headers: { "if-none-match": current.etag as string },
    });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe(current.etag);
    expect(b.cache.stats().hits).toBe(hits + 1);
    const stale = await call(b, "GET", "/api/codes/61001", { headers: { "if-none-match": '"1-0"' } });
    expect(stale.status).toBe(200);
    expect(stale.headers.get("cache-control")).toBe("private, no-cache");
    expect(stale.headers.get("content-type")).toStartWith("application/json");
  });

  test("a cached record still needs a valid token and role on every request", async () => {
    await getCode(b, "61001");
    expect((await getCode(b, "61001")).status).toBe(200);
    expect(b.cache.get("codes", "61001")).toBeDefined();
    const anonymous = await b.app.request("/api/codes/61001");
    expect(anonymous.status).toBe(401);
    const { expired } = await auth.invalidTokens();
    const stale = await b.app.request("/api/codes/61001", {
      headers: { authorization: `Bearer ${expired}` },
    });
    expect(stale.status).toBe(401);
    const roleless = await auth.token({ roles: [] });
    const refused = await b.app.request("/api/codes/61001", {
      headers: { authorization: `Bearer ${roleless}` },
    });
    expect(refused.status).toBe(403);
  });

  test("the writing replica reads its own write at once, before any event", async () => {
    const before = await getCode(a, "61001");
    await getCode(a, "61001");
    const patch = await call(a, "PATCH", "/api/codes/61001", {
      json: { tariff_cents: 8888 },
      headers: { "if-match": before.etag as string },
    });
    expect(patch.status).toBe(200);
    expect((await getCode(a, "61001")).body.tariff_cents).toBe(8888);
  });

  test("a delete on A is a 404 on B once B consumed it", async () => {
    const created = consumedOn(b, "codes", "61002", "created");
    expect((await call(a, "POST", "/api/codes", { json: codeInput("61002") })).status).toBe(201);
    await created;
    expect((await getCode(b, "61002")).status).toBe(200);
    expect((await getCode(b, "61002")).status).toBe(200);
    const deleted = consumedOn(b, "codes", "61002", "deleted");
    expect((await call(a, "DELETE", "/api/codes/61002")).status).toBe(204);
    await deleted;
    expect((await getCode(b, "61002")).status).toBe(404);
  });

  test("an import too large to list its keys drops B's whole table", async () => {
    const lines = Array.from({ length: 1001 }, (_, i) => codeLine(String(62000 + i)));
    const seeded = consumedOn(b, "codes", "62000", "imported");
    const csv = (rows: string[]) => `${CODE_HEADER}\n${rows.join("\n")}\n`;
    expect(
      (
        await call(a, "POST", "/api/codes/import", {
          body: csv(lines),
          headers: { "content-type": "text/csv" },
        })
      ).status,
    ).toBe(200);
    await seeded;
    expect((await getCode(b, "62500")).body.tariff_cents).toBe(2500);
    expect((await getCode(b, "62500")).body.tariff_cents).toBe(2500);
    const changed = lines.map((_, i) => codeLine(String(62000 + i), { tariff_cents: "3100" }));
    const reimported = consumedOn(b, "codes", "62500", "imported");
    expect(
      (
        await call(a, "POST", "/api/codes/import", {
          body: csv(changed),
          headers: { "content-type": "text/csv" },
        })
      ).status,
    ).toBe(200);
    await reimported;
    expect(b.consumed.at(-1)?.data.truncated).toBe(true);
    expect((await getCode(b, "62500")).body.tariff_cents).toBe(3100);
  });

  test("list pages: B answers from memory, and a create on A shows in them once B consumed its event", async () => {
    const path = "/api/codes?category=test&limit=500";
    const list = async () => {
      const res = await call(b, "GET", path);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { code: string }[] };
      return { etag: res.headers.get("etag"), codes: page.items.map((i) => i.code) };
    };
    const first = await list();
    expect(first.codes).toContain("61001");
    expect(first.codes).not.toContain("61003");
    const hits = b.cache.stats().hits;
    expect(await list()).toEqual(first);
    expect(b.cache.stats().hits).toBe(hits + 1);
    const notModified = await call(b, "GET", path, { headers: { "if-none-match": first.etag as string } });
    expect(notModified.status).toBe(304);

    const created = consumedOn(b, "codes", "61003", "created");
    expect((await call(a, "POST", "/api/codes", { json: codeInput("61003") })).status).toBe(201);
    await created;
    const after = await list();
    expect(after.codes).toContain("61003");
    expect(after.etag).not.toBe(first.etag);
  });

  test("while B's feed is down B reads the database, and caches again once it is back", async () => {
    await getCode(b, "61001");
    await b.feed.stop();
    expect(b.cache.online).toBe(false);
    await tdb.db.execute(sql`update codes set description = 'seen without the feed' where code = '61001'`);
    const misses = b.cache.stats().misses;
    expect((await getCode(b, "61001")).body.description).toBe("seen without the feed");
    expect(b.cache.stats().misses).toBe(misses + 1);
    b.feed.start();
    await until("B's feed back online", async () => (b.cache.online ? true : undefined));
    await getCode(b, "61001");
    const hits = b.cache.stats().hits;
    await getCode(b, "61001");
    expect(b.cache.stats().hits).toBe(hits + 1);
  });
});
