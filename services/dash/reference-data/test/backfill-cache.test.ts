import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  codesSpec,
  createReadCacheFeed,
  createReferenceReadCache,
  type ReadCacheFeed,
  type ReferenceReadCache,
  type Row,
  searchTextOf,
} from "@dash/reference";
import { backfill, createDatasyncState, destroyNamespaceState } from "@fig/datasync";
import type { Database } from "@fig/db";
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
import { buildApp } from "../src/app.ts";
import {
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  REFERENCE_ROUTE,
  uniqueNamespace,
  until,
} from "./sync-helpers.ts";

// A replica of reference-data with its read cache on, while migrate-data's backfill (monolith → reference-data)
// rewrites a row it has cached: the backfill's own reference.changed, published by the replica's outbox relay,
// drops the row, so the replica answers the backfilled version instead of the cached one until the TTL.
const namespace = uniqueNamespace("bfcache");
const auth = createTestAuth();
const logger = createLogger({ service: "reference-data", level: "silent" });
let owner: TestDatabase;
let candidate: TestDatabase;
let nats: NatsClient;
let relay: OutboxRelay;
let cache: ReferenceReadCache;
let feed: ReadCacheFeed;
let app: ReturnType<typeof buildApp>;
let token: string;
const waiters: { match: (e: FigEvent<"reference.changed">) => boolean; resolve: () => void }[] = [];

beforeAll(async () => {
  const requiresServer = "a backfill between two databases";
  owner = await createTestDatabase({
    service: "bfcache_owner",
    migrationsFolder: MONOLITH_MIGRATIONS,
    requiresServer,
  });
  candidate = await createTestDatabase({
    service: "bfcache_candidate",
    migrationsFolder: REFERENCE_MIGRATIONS,
    requiresServer,
  });
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "backfill-cache-test" });
  cache = createReferenceReadCache();
  feed = createReadCacheFeed({
    cache,
    nats,
    namespace,
    logger,
    onInvalidated(event) {
      for (const w of [...waiters])
        if (w.match(event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
    },
  });
  app = buildApp({ db: candidate.db, verifier: auth.verifier, logger, cache });
  relay = createOutboxRelay({ database: candidate, nats, namespace, logger, pollIntervalMs: 200 });
  await relay.start();
  feed.start();
  await until("the read cache online", async () => (cache.online ? true : undefined));
  token = await auth.token({ roles: ["viewer"] });
}, 60_000);

afterAll(async () => {
  await feed?.stop();
  await relay?.stop();
  if (nats) {
    await destroyNamespaceState(nats, namespace).catch(() => {});
    await deleteNamespace(await nats.manager(), namespace).catch(() => {});
    await nats.close();
  }
  await owner?.drop();
  await candidate?.drop();
});

/** Resolves once the feed has dropped `key` of codes (or the whole table); register before the write. */
const consumed = (key: string) =>
  new Promise<void>((resolve) =>
    waiters.push({
      match: (e) => e.data.table === "codes" && (e.data.truncated || e.data.keys.includes(key)),
      resolve,
    }),
  );

/** A row written as it is, without an event: a side's state set directly. */
async function putCode(db: Database, row: Row) {
  await db.insert(codesSpec.table).values({ ...row, search_text: searchTextOf(codesSpec, row) } as never);
}

const code = (overrides: Row): Row => ({
  code: "71001",
  description: "Examen 71001",
  category: "examen",
  tariff_cents: 1200,
  unit: "acte",
  place_of_service: "both",
  requires_context: false,
  max_per_day: null,
  effective_from: "2015-01-01",
  effective_to: null,
  active: true,
  version: 1,
  updated_at: new Date("2026-01-02T03:04:05.678Z"),
  ...overrides,
});

async function getCode(key: string) {
  const res = await app.request(`/api/codes/${key}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const runBackfill = (route: string) =>
  backfill({
    route,
    owner: { name: "monolith", db: owner.db },
    candidate: { name: "reference-data", db: candidate.db },
    tables: REFERENCE_ROUTE.tables,
    event: REFERENCE_ROUTE.event,
    state: createDatasyncState(nats, namespace),
    batch: 100,
  });

describe("backfill and the read cache", () => {
  test("a replica serves the backfilled row once it has consumed the backfill's event, not its cached copy", async () => {
    await putCode(candidate.db, code({}));
    await putCode(owner.db, code({ version: 2, description: "Examen révisé", updated_at: new Date() }));

    const first = await getCode("71001");
    expect(first).toMatchObject({ status: 200, body: { version: 1, description: "Examen 71001" } });
    const hits = cache.stats().hits;
    expect(await getCode("71001")).toEqual(first);
    expect(cache.stats().hits).toBe(hits + 1); // from memory: only an event would drop it before the TTL

    const dropped = consumed("71001");
    const result = await runBackfill("bfcache");
    expect(result.tables.find((t) => t.table === "codes")).toMatchObject({ written: 1, events: 1 });
    await dropped;
    expect(await getCode("71001")).toMatchObject({
      status: 200,
      body: { version: 2, description: "Examen révisé" },
    });
  });
});
