import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  createNatsClient,
  deleteNamespace,
  ensureStreams,
  type NatsClient,
  streamNames,
  subjectOf,
} from "@fig/events";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import {
  createDatasyncState,
  flipPrerequisites,
  flipWriteOwner,
  type GatewayAdmin,
  requireSyncKeys,
} from "../src/index.ts";
import { createSides, NATS_URL, REFERENCE_ROUTE, type Sides, uniqueNamespace } from "./helpers.ts";

// A monolith that is not a Fig service: its database has its own tables and none of Fig's (no outbox, no
// sync_keys). What backfill and flip need is checked against it before anything is written or held.
const namespace = uniqueNamespace();
let app: TestDatabase;
let sides: Sides;
let nats: NatsClient;

beforeAll(async () => {
  app = await createTestDatabase({ service: "ds_preflight_app", requiresServer: "checks real tables" });
  sides = await createSides("ds_preflight");
  nats = createNatsClient({ servers: NATS_URL, name: "datasync-preflight-test" });
  await ensureStreams(await nats.manager(), namespace);
});
afterAll(async () => {
  if (nats) await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await sides?.drop();
  await app?.drop();
});

describe("what backfill and flip need, checked first", () => {
  test("backfill into a side without sync_keys is refused naming the table and how to add it", async () => {
    const refused = await requireSyncKeys({ name: "notes", db: app.db }).then(
      () => "accepted",
      (error: Error) => error.message,
    );
    expect(refused).toContain("notes's database has no sync_keys table");
    expect(refused).toContain('export { syncKeys } from "@fig/datasync/tables"');
    expect(await requireSyncKeys({ name: "reference-data", db: sides.candidate.db })).toBeUndefined();
  });

  test("a flip from an app without an outbox, with no follower, into a side without sync_keys or inbox names each and holds nothing", async () => {
    const followers = { legacy: "pf-notes-follows-legacy", notes: "pf-legacy-follows-notes" };
    const options = {
      route: "notes",
      owner: { name: "legacy", db: app.db },
      candidate: { name: "notes", db: app.db },
      followers,
      nats,
      namespace,
    };
    const missing = await flipPrerequisites(options);
    expect(missing).toEqual([
      expect.stringMatching(/^legacy's database has no outbox table/),
      expect.stringContaining(
        `no follower: the JetStream consumer pf-notes-follows-legacy on ${streamNames(namespace).events}`,
      ),
      expect.stringMatching(/^notes's database has no sync_keys table/),
      expect.stringMatching(/^notes's database has no inbox table/),
    ]);
    const calls: string[] = [];
    const gateway: GatewayAdmin = {
      writeOwner: async () => "legacy",
      hold: async () => {
        calls.push("hold");
        throw new Error("held");
      },
      release: async () => {
        calls.push("release");
        throw new Error("released");
      },
      setWriteOwner: async () => {
        calls.push("setWriteOwner");
        return {};
      },
    };
    const flip = flipWriteOwner({
      ...options,
      tables: REFERENCE_ROUTE.tables,
      gateway,
      state: createDatasyncState(nats, namespace),
      holdMs: 1000,
    });
    await expect(flip).rejects.toThrow("cannot flip notes's writes, nothing was held");
    expect(calls).toEqual([]);
  });

  test("a Fig owner with its outbox, a follower and a candidate with sync_keys has nothing missing", async () => {
    const followers = { monolith: "pf-ref-follows-mono", "reference-data": "pf-mono-follows-ref" };
    await (await nats.manager()).consumers.add(streamNames(namespace).events, {
      durable_name: followers.monolith,
      filter_subject: subjectOf(namespace, REFERENCE_ROUTE.event, "monolith"),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const missing = await flipPrerequisites({
      route: "reference-data",
      owner: { name: "monolith", db: sides.owner.db },
      candidate: { name: "reference-data", db: sides.candidate.db },
      followers,
      event: REFERENCE_ROUTE.event,
      nats,
      namespace,
    });
    expect(missing).toEqual([]);
  });
});
