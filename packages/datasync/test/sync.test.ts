import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  codes,
  codesSpec,
  contextsSpec,
  createRecord,
  deleteRecord,
  etagOf,
  REFERENCE_SPECS,
  referenceChangeRecorder,
  referenceRouter,
  referenceSyncHooks,
  type StoreContext,
  updateRecord,
} from "@dash/reference";
import { type Database, rowsOf } from "@fig/db";
import {
  createNatsClient,
  createOutboxRelay,
  deleteNamespace,
  type NatsClient,
  type OutboxRelay,
  streamNames,
} from "@fig/events";
import { createApp, createLogger } from "@fig/service";
import { createTestAuth, TEST_AUTH } from "@fig/testing";
import { eq, sql } from "drizzle-orm";
import { Registry } from "prom-client";
import {
  createLiveSync,
  createSyncMetrics,
  fetchOwnerTable,
  type LiveSync,
  type SyncMetrics,
  syncKeys,
  verifySides,
} from "../src/index.ts";
import {
  codeRow,
  createSides,
  NATS_URL,
  REFERENCE_ROUTE,
  type Sides,
  uniqueNamespace,
  until,
} from "./helpers.ts";

/** A code as a POST body would give it (the store sets version and updated_at). */
function codeInput(code: string) {
  const { version: _v, updated_at: _u, ...input } = codeRow(code);
  return input;
}

// The live sync end to end, in process: the owner (monolith schema) writes through @dash/reference's store
// verbs into its outbox, a real relay publishes to real NATS, and the candidate's consumer applies.
const namespace = uniqueNamespace();
const silent = createLogger({ service: "datasync-sync-test", level: "silent" });
const CONSUMER = "reference-data-reference-sync";
let sides: Sides;
let nats: NatsClient;
let relay: OutboxRelay;
let server: ReturnType<typeof Bun.serve>;
let owner: StoreContext;
/** What the owner writes now, recorded as the monolith records it: its own subject, rows in the event. */
const withRows = referenceChangeRecorder({ source: "monolith", withRows: true });

beforeAll(async () => {
  sides = await createSides("ds_sync");
  owner = { db: sides.owner.db, recordChange: withRows };
  nats = createNatsClient({ servers: NATS_URL, name: "datasync-sync-test" });
  relay = createOutboxRelay({ database: sides.owner, nats, namespace, logger: silent, pollIntervalMs: 50 });
  await relay.start();
  // The owner's read API, which the sync re-reads a table from when an event carries no rows.
  const app = createApp({ name: "owner", version: "0", description: "owner", logger: silent });
  const deps = { db: sides.owner.db, verifier: createTestAuth().verifier, recordChange: withRows };
  for (const spec of REFERENCE_SPECS) app.route(`/api/${spec.resource}`, referenceRouter(spec, deps));
  server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
});

afterAll(async () => {
  await relay?.stop();
  server?.stop(true);
  if (nats) await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await sides?.drop();
});

function startSync(metrics: SyncMetrics): LiveSync {
  const ownerApi = {
    url: `http://127.0.0.1:${server.port}`,
    dev: { secret: TEST_AUTH.secret, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience },
    caller: "datasync-sync-test",
  };
  const sync = createLiveSync({
    name: CONSUMER,
    origin: "monolith",
    event: REFERENCE_ROUTE.event,
    tables: REFERENCE_ROUTE.tables,
    database: sides.candidate,
    nats,
    namespace,
    logger: silent,
    readOwnerTable: (table) => fetchOwnerTable(ownerApi, table),
    ...referenceSyncHooks(referenceChangeRecorder({ withRows: true })),
    metrics,
  });
  return sync;
}

/** fig_sync_events_total by outcome. */
async function outcomes(registry: Registry) {
  const metric = await registry.getSingleMetric("fig_sync_events_total")?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [v.labels.outcome, v.value]));
}

const verify = () =>
  verifySides({
    owner: { name: "monolith", db: sides.owner.db },
    candidate: { name: "reference-data", db: sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
  });

/** Resolves once both sides verify equal, else fails with the last comparison. */
async function converged() {
  let last: Awaited<ReturnType<typeof verify>> | undefined;
  try {
    return await until("both sides equal", async () => {
      last = await verify();
      return last.ok ? last : undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${JSON.stringify(last?.tables.filter((t) => !t.equal))}`);
  }
}

const countRows = async (db: Database, query: ReturnType<typeof sql>) =>
  Number(rowsOf<{ n: number }>(await db.execute(query))[0]?.n);

/** The consumer has been handed every event on its subject and acked them all. */
async function consumerIdle() {
  const jsm = await nats.manager();
  return until("the consumer to ack everything", async () => {
    const info = await jsm.consumers.info(streamNames(namespace).events, CONSUMER);
    return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
  });
}

// One sync for the file's first tests; the redelivery test replaces it with a fresh consumer of the same name.
describe("the live sync", () => {
  const registry = new Registry();
  let sync: LiveSync;

  beforeAll(async () => {
    sync = startSync(createSyncMetrics(registry));
    await sync.start();
  });
  afterAll(() => sync?.stop());

  test("the owner's create, update and delete reach the candidate, each applied once", async () => {
    // Each write waits for the candidate to match, so each event is applied on its own.
    const created = await createRecord(owner, codesSpec, codeInput("40000"));
    await converged();
    await updateRecord(owner, codesSpec, "40000", { tariff_cents: 999 }, etagOf(created));
    await converged();
    await createRecord(owner, contextsSpec, { code: "URG", description: "Urgence", active: true });
    await converged();
    await deleteRecord(owner, contextsSpec, "URG");
    const record = await converged();
    expect(record.tables.map((t) => [t.table, t.owner.count])).toEqual([
      ["codes", 1],
      ["contexts", 0],
      ["establishments", 0],
      ["rules", 0],
    ]);
    const [row] = await sides.candidate.db.select().from(codes).where(eq(codes.code, "40000"));
    expect(row).toMatchObject({ tariff_cents: 999, version: 2 });
    await until("four events applied", async () =>
      (await outcomes(registry)).applied === 4 ? true : undefined,
    );
    expect(await countRows(sides.candidate.db, sql`select count(*)::int as n from inbox`)).toBe(4);
    // The delete leaves a tombstone, so an older create redelivered later cannot bring URG back.
    const [tomb] = await sides.candidate.db.select().from(syncKeys).where(eq(syncKeys.key, "URG"));
    expect(tomb).toMatchObject({ origin: "monolith", table_name: "contexts", deleted: true });
    // What the candidate applied is republished through its own outbox, one event per change.
    const ops = rowsOf<{ op: string }>(
      await sides.candidate.db.execute(sql`select data->>'op' as op from outbox order by seq`),
    ).map((r) => r.op);
    expect(ops).toEqual(["created", "updated", "created", "deleted"]);
  });

  test("an event without rows (an older publisher) makes the candidate re-read the table from the owner's API", async () => {
    const keysOnly = referenceChangeRecorder({ source: "monolith" });
    await createRecord({ db: sides.owner.db, recordChange: keysOnly }, codesSpec, codeInput("40001"));
    await converged();
    expect(
      await countRows(sides.candidate.db, sql`select count(*)::int as n from codes where code = '40001'`),
    ).toBe(1);
  });
});

describe("redelivery", () => {
  test("every event delivered again to the same consumer is a duplicate: nothing is applied twice", async () => {
    // This test's own change first, applied by a consumer that then stops with everything acked.
    const first = startSync(createSyncMetrics(new Registry()));
    await first.start();
    try {
      await createRecord(owner, codesSpec, codeInput("40100"));
      await converged();
      await consumerIdle();
    } finally {
      await first.stop();
    }
    const inboxBefore = await countRows(sides.candidate.db, sql`select count(*)::int as n from inbox`);
    const outboxBefore = await countRows(sides.candidate.db, sql`select count(*)::int as n from outbox`);
    const codesBefore = await sides.candidate.db.execute(sql`select * from codes order by code`);
    expect(inboxBefore).toBeGreaterThan(0);
    // A new durable of the same name starts at the stream's beginning: JetStream hands it every event again.
    await (await nats.manager()).consumers.delete(streamNames(namespace).events, CONSUMER);
    const registry = new Registry();
    const sync = startSync(createSyncMetrics(registry));
    await sync.start();
    try {
      const seen = await until("every event redelivered", async () => {
        const o = await outcomes(registry);
        return o.duplicate === inboxBefore ? o : undefined;
      });
      expect(seen.applied ?? 0).toBe(0);
      await consumerIdle();
    } finally {
      await sync.stop();
    }
    expect(await countRows(sides.candidate.db, sql`select count(*)::int as n from inbox`)).toBe(inboxBefore);
    expect(await countRows(sides.candidate.db, sql`select count(*)::int as n from outbox`)).toBe(
      outboxBefore,
    );
    expect(await sides.candidate.db.execute(sql`select * from codes order by code`)).toEqual(codesBefore);
  });
});
